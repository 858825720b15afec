//! Writing results to stdout without `println!`'s panic on a closed pipe: a reader that
//! stops early (`ocpulse sim ... | head -1`) has what it wanted, so the process ends quietly
//! with success instead of dying with `failed printing to stdout: Broken pipe` (exit 101).

use std::io::Write as _;

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) {
    write(text.as_bytes(), true);
}

/// Writes `text` as it is (it brings its own newlines).
pub fn text(text: &str) {
    write(text.as_bytes(), false);
}

/// Writes raw bytes (a download passed through as it arrives).
pub fn bytes(bytes: &[u8]) {
    write(bytes, false);
}

fn write(bytes: &[u8], newline: bool) {
    let mut out = std::io::stdout().lock();
    let done = out
        .write_all(bytes)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    match done {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}
