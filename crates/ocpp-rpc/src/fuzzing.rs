//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz, nightly) and for the corpus
//! replay test that runs them on stable (`tests/fuzz_corpus.rs`). Not an API: hidden from
//! the docs, kept here so both callers check the same properties.

use crate::{Frame, ProtocolVersion};

/// One WebSocket text message through the frame decoder, checking what must hold for any
/// input: a parsed frame writes and re-reads as itself, and a refused one yields a
/// CALLERROR for every version that is itself a readable frame carrying the reply id.
pub fn frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Frame::parse(text) {
        Ok(frame) => {
            let written = frame.to_text();
            let again = Frame::parse(&written)
                .unwrap_or_else(|e| panic!("{written:?} does not re-read: {e:?}"));
            assert_eq!(again.to_text(), written, "writing is not stable");
            assert_eq!(again.id(), frame.id());
            assert_eq!(again.type_name(), frame.type_name());
        }
        Err(error) => {
            for version in ProtocolVersion::ALL {
                let answer = error.to_call_error(version);
                assert_eq!(answer.id(), error.reply_id());
                let written = answer.to_text();
                // An id the station sent out of bounds (empty, too long) is echoed so the
                // station can tell which frame was refused; the rest must still read.
                match Frame::parse(&written) {
                    Ok(Frame::CallError { .. }) => {}
                    Err(e) if e.message_type == Some(4) && e.id.as_deref() == Some(answer.id()) => {
                    }
                    other => panic!("the CALLERROR {written:?} reads as {other:?}"),
                }
            }
        }
    }
    // The subprotocol and identity rules read the same untrusted text at the handshake.
    let _ = crate::version::negotiate(text);
    for version in ProtocolVersion::ALL {
        let _ = crate::identity::validate(text, version);
    }
}
