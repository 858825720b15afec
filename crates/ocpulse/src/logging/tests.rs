use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::RateLimited;

/// A log writer the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

const EVERY: Duration = Duration::from_millis(300);

fn text_subscriber(out: &Captured) -> impl tracing::Subscriber + Send + Sync {
    let out = out.clone();
    tracing_subscriber::fmt()
        .with_writer(move || out.clone())
        .with_ansi(false)
        .event_format(RateLimited::new(
            tracing_subscriber::fmt::format(),
            false,
            EVERY,
        ))
        .finish()
}

/// The same failure for many stations, as a full disk makes it.
fn refuse(n: usize) {
    for i in 0..n {
        tracing::error!(station = %format!("CP{i}"), error = "disk full", "could not commit a station CALL");
    }
}

#[test]
fn a_repeated_error_is_written_once_per_interval_then_with_the_count_it_suppressed() {
    let out = Captured::default();
    tracing::subscriber::with_default(text_subscriber(&out), || {
        refuse(500);
        tracing::error!("another failure");
        tracing::info!(station = "CP1", "station connected");
        tracing::info!(station = "CP1", "station connected");
        std::thread::sleep(EVERY + Duration::from_millis(50));
        refuse(1);
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(
        lines[0].contains("could not commit a station CALL") && lines[0].contains("station=CP0")
    );
    assert!(!lines[0].contains("suppressed"), "{}", lines[0]);
    assert!(
        lines[1].contains("another failure"),
        "a distinct message passes"
    );
    assert!(
        lines[2].contains("station connected") && lines[3].contains("station connected"),
        "information is never limited: {lines:#?}"
    );
    assert!(
        lines[4].ends_with("(499 similar suppressed)"),
        "{}",
        lines[4]
    );
}

#[test]
fn in_json_the_count_is_a_field_of_the_object() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .event_format(RateLimited::new(
            tracing_subscriber::fmt::format().json().flatten_event(true),
            true,
            EVERY,
        ))
        .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        refuse(3);
        std::thread::sleep(EVERY + Duration::from_millis(50));
        refuse(1);
    });
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let first: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
    assert_eq!(first["station"], "CP0");
    assert!(first.get("suppressed").is_none());
    let next: serde_json::Value = serde_json::from_str(&lines[1]).expect("JSON");
    assert_eq!(next["suppressed"], 2, "{next}");
    assert_eq!(next["message"], "could not commit a station CALL");
}
