//! What is kept of input that is not a readable OCPP-J frame: enough to recognise it
//! (its start, size and SHA-256), never its bulk.

/// The longest unreadable text journaled whole.
const MALFORMED_KEPT: usize = 4096;

/// How much of a longer unreadable text is kept.
const MALFORMED_HEAD: usize = 1024;

/// SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Unreadable text as journaled: whole when short, else its start, size and hash.
pub(crate) fn journaled_text(text: &str) -> String {
    if text.len() <= MALFORMED_KEPT {
        return text.to_owned();
    }
    let mut end = MALFORMED_HEAD;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… [{} bytes in all, sha256 {}]",
        &text[..end],
        text.len(),
        sha256_hex(text.as_bytes())
    )
}

/// The message id at the start of a frame too large to parse (`[2, "id", ...`), so its
/// CALLERROR can name it; `None` when the start does not look like a CALL.
pub(crate) fn leading_message_id(text: &str) -> Option<String> {
    let head = text.get(..text.len().min(128))?;
    let rest = head.trim_start().strip_prefix('[')?.trim_start();
    let rest = rest.strip_prefix('2')?.trim_start().strip_prefix(',')?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let id = &rest[..rest.find('"')?];
    (!id.is_empty() && id.len() <= 36 && !id.contains('\\')).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_an_oversized_call_is_read_from_its_start() {
        let big = format!(
            "[2, \"abc-1\", \"DataTransfer\", {{\"data\": \"{}\"}}]",
            "x".repeat(1000)
        );
        assert_eq!(leading_message_id(&big).as_deref(), Some("abc-1"));
        assert_eq!(leading_message_id("[3,\"abc\",{}]"), None);
        assert_eq!(leading_message_id("garbage"), None);
    }

    #[test]
    fn long_unreadable_text_is_journaled_as_its_start_size_and_hash() {
        assert_eq!(journaled_text("short"), "short");
        let long = "é".repeat(5000);
        let kept = journaled_text(&long);
        assert!(kept.len() < 1200, "{}", kept.len());
        assert!(kept.contains("10000 bytes in all, sha256 "));
    }
}
