//! Tolerant PEM and base64 handling.
//!
//! Charging stations send CSRs in many shapes: proper PEM, PEM on one line, PEM with `\r\n`,
//! PEM whose newlines arrived as the two characters `\n` (double-escaped JSON), the old
//! `NEW CERTIFICATE REQUEST` label, or bare base64 DER. A strict PEM parser rejects half of
//! them, so we decode by hand: find the armor, drop whitespace and RFC 1421 headers, decode
//! base64 with or without padding.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding optional on decode, padding written on encode.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One decoded PEM block.
#[derive(Debug)]
pub(crate) struct PemBlock {
    /// The label, e.g. `CERTIFICATE REQUEST`.
    pub(crate) label: String,
    /// The decoded contents.
    pub(crate) der: Vec<u8>,
}

/// Turns literal `\n` / `\r` escape sequences into real line breaks; backslashes are not
/// valid in PEM or base64, so this cannot change well-formed input.
fn unescape_newlines(text: &str) -> String {
    text.replace("\\r", "\r").replace("\\n", "\n")
}

/// Decodes the base64 body of a PEM block, skipping RFC 1421 headers (`Name: value` lines).
fn decode_body(body: &str) -> Option<Vec<u8>> {
    let mut b64 = String::with_capacity(body.len());
    for line in body.lines() {
        if line.contains(':') {
            continue;
        }
        b64.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    decode_base64(&b64)
}

/// Decodes base64 (standard alphabet, padding optional); `None` if empty or invalid.
fn decode_base64(b64: &str) -> Option<Vec<u8>> {
    if b64.is_empty() {
        return None;
    }
    BASE64.decode(b64).ok().filter(|der| !der.is_empty())
}

/// All PEM blocks in `text`, in order.
///
/// `Ok(empty)` means there is no `-----BEGIN` at all (the caller may then try bare base64);
/// `Err` describes armor that starts but is broken.
pub(crate) fn blocks(text: &str) -> Result<Vec<PemBlock>, String> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let text = unescape_newlines(text);
    let mut rest = text.as_str();
    let mut out = Vec::new();
    while let Some(start) = rest.find(BEGIN) {
        let after_begin = &rest[start + BEGIN.len()..];
        let label_end = after_begin
            .find(DASHES)
            .ok_or_else(|| "a BEGIN line is not terminated by -----".to_owned())?;
        let label = after_begin[..label_end].trim().to_owned();
        let body_and_rest = &after_begin[label_end + DASHES.len()..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_and_rest
            .find(&end_marker)
            .ok_or_else(|| format!("the {label} block has no END line"))?;
        let der = decode_body(&body_and_rest[..body_end])
            .ok_or_else(|| format!("the {label} block is not valid base64"))?;
        out.push(PemBlock { label, der });
        rest = &body_and_rest[body_end + end_marker.len()..];
    }
    Ok(out)
}

/// Decodes text that has no PEM armor as bare base64 (whitespace and escaped newlines
/// ignored).
pub(crate) fn decode_bare(text: &str) -> Option<Vec<u8>> {
    let b64: String = unescape_newlines(text)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    decode_base64(&b64)
}

/// Encodes DER as a PEM block with 64-character lines and a trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut line = String::with_capacity(65);
    for (i, c) in b64.chars().enumerate() {
        line.push(c);
        if (i + 1) % 64 == 0 {
            line.push('\n');
            out.push_str(&line);
            line.clear();
        }
    }
    if !line.is_empty() {
        line.push('\n');
        out.push_str(&line);
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_wraps_at_64() {
        let der: Vec<u8> = (0u8..=200).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let blocks = blocks(&pem).expect("parse");
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, der);
    }

    #[test]
    fn tolerates_one_line_crlf_escaped_and_headers() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let b64 = BASE64.encode(&der);
        let variants = [
            format!("-----BEGIN X-----{b64}-----END X-----"),
            format!("-----BEGIN X-----\r\n{b64}\r\n-----END X-----\r\n"),
            format!("-----BEGIN X-----\\n{b64}\\n-----END X-----\\n"),
            format!("-----BEGIN X-----\nProc-Type: 4,XYZ\n\n{b64}\n-----END X-----\n"),
            format!(
                "-----BEGIN X-----\n{}\n-----END X-----\n",
                b64.trim_end_matches('=')
            ),
        ];
        for v in &variants {
            let blocks = blocks(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!(blocks.len(), 1, "{v:?}");
            assert_eq!(blocks[0].der, der, "{v:?}");
        }
    }

    #[test]
    fn several_blocks_in_order() {
        let text = format!("{}junk\n{}", encode("A", &[1]), encode("B", &[2]));
        let blocks = blocks(&text).expect("parse");
        let labels: Vec<_> = blocks.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["A", "B"]);
    }

    #[test]
    fn broken_armor_is_an_error_and_no_armor_is_empty() {
        assert!(blocks("-----BEGIN X-----\nAAAA\n").is_err());
        assert!(blocks("-----BEGIN X-----\n!!!!\n-----END X-----").is_err());
        assert!(blocks("MIIB").expect("no armor").is_empty());
    }

    #[test]
    fn bare_base64() {
        assert_eq!(
            decode_bare(" AQID\n BA== ").expect("decode"),
            vec![1, 2, 3, 4]
        );
        assert!(decode_bare("not base64 at all!").is_none());
        assert!(decode_bare("   ").is_none());
    }
}
