//! The file part of a `multipart/form-data` body (RFC 7578), as stations POST their logs:
//! the first part with a `filename`, else the first part. Plain code on bytes.

/// One part's content and what its headers said.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The part's bytes.
    pub body: &'a [u8],
    /// Its `filename` (Content-Disposition), if given.
    pub file_name: Option<String>,
    /// Its Content-Type, if given.
    pub content_type: Option<String>,
}

/// The `boundary` parameter of a `multipart/form-data` content type; `None` for any other
/// content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// The file part of `body`, or what is wrong with it.
pub fn file_part<'a>(body: &'a [u8], boundary: &str) -> Result<Part<'a>, String> {
    if boundary.is_empty() || boundary.len() > 70 {
        return Err("the multipart boundary must be 1 to 70 characters".into());
    }
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0)
        .ok_or("the body does not contain its multipart boundary")?
        + delimiter.len();
    let mut first: Option<Part<'a>> = None;
    loop {
        if body[at..].starts_with(b"--") {
            break;
        }
        let headers_start = find(body, b"\r\n", at).ok_or("a multipart part has no headers")? + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start)
            .ok_or("a multipart part's headers do not end")?;
        let content_start = headers_end + 4;
        let mut close = Vec::with_capacity(delimiter.len() + 2);
        close.extend_from_slice(b"\r\n");
        close.extend_from_slice(delimiter);
        let content_end = find(body, &close, content_start)
            .ok_or("a multipart part does not end with its boundary")?;
        let headers = String::from_utf8_lossy(&body[headers_start..headers_end]);
        let mut part = Part {
            body: &body[content_start..content_end],
            file_name: None,
            content_type: None,
        };
        for line in headers.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            } else if name.trim().eq_ignore_ascii_case("content-disposition") {
                part.file_name = value.split(';').find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("filename")
                        .then(|| v.trim().trim_matches('"').to_owned())
                });
            }
        }
        if part.file_name.is_some() {
            return Ok(part);
        }
        if first.is_none() {
            first = Some(part);
        }
        at = content_end + close.len();
        if at >= body.len() {
            break;
        }
    }
    first.ok_or_else(|| "the multipart body has no part".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_is_read_from_a_form_data_content_type_only() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary("text/plain"), None);
    }

    #[test]
    fn the_part_with_a_filename_is_the_file() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"diag.log\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n--XY--\r\n";
        let part = file_part(body, "XY").expect("parses");
        assert_eq!(part.body, b"line 1\r\nline 2");
        assert_eq!(part.file_name.as_deref(), Some("diag.log"));
        assert_eq!(part.content_type.as_deref(), Some("text/plain"));
    }

    #[test]
    fn a_body_without_its_boundary_is_an_error() {
        assert!(file_part(b"no parts here", "XY").is_err());
        assert!(file_part(b"--XY\r\nContent-Type: x\r\n\r\nunterminated", "XY").is_err());
    }
}
