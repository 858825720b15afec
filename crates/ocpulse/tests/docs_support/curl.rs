//! The subset of curl the pages use, turned into a request: `curl -s [-X METHOD]
//! [-H 'name: value']... [-d 'body'] URL [| jq .]`, over one or more `\`-continued lines.

/// A request read from a curl command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// HTTP method (`GET`, or `POST` when a body is given without `-X`).
    pub method: String,
    /// The URL as written (the caller points it at the test server).
    pub url: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<String>,
    /// Piped into `jq .`: the page shows the answer exactly as jq prints it.
    pub jq: bool,
}

/// Parses one curl command.
pub fn parse(command: &str) -> Result<Request, String> {
    let mut words = split_words(&command.replace("\\\n", " "))?;
    let jq = words.ends_with(&["|".into(), "jq".into(), ".".into()]);
    if jq {
        words.truncate(words.len() - 3);
    }
    if words.iter().any(|w| w == "|") {
        return Err(format!(
            "the only pipe the docs test runs is `| jq .` at the end, got {command:?}"
        ));
    }
    let mut words = words.into_iter();
    if words.next().as_deref() != Some("curl") {
        return Err(format!("an example runs curl, got {command:?}"));
    }
    let (mut method, mut url, mut headers, mut body) = (None, None, Vec::new(), None);
    while let Some(word) = words.next() {
        let mut value = |flag: &str| words.next().ok_or(format!("{flag} needs a value"));
        match word.as_str() {
            "-s" | "-sS" | "--silent" => {}
            "-X" | "--request" => method = Some(value("-X")?),
            "-H" | "--header" => {
                let header = value("-H")?;
                let (name, v) = header
                    .split_once(':')
                    .ok_or(format!("a header is `name: value`, got {header:?}"))?;
                headers.push((name.trim().to_owned(), v.trim().to_owned()));
            }
            "-d" | "--data" => body = Some(value("-d")?),
            flag if flag.starts_with('-') => {
                return Err(format!(
                    "curl option {flag} is not supported by the docs test"
                ));
            }
            _ if url.is_some() => return Err(format!("a second URL {word:?}")),
            _ => url = Some(word),
        }
    }
    let method = method.unwrap_or_else(|| if body.is_some() { "POST" } else { "GET" }.into());
    let url = url.ok_or("the command has no URL")?;
    Ok(Request {
        method,
        url,
        headers,
        body,
        jq,
    })
}

/// Splits a shell line into words: whitespace separates, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(current.take()),
            '\'' => {
                let word = current.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("an unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                let word = current.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a trailing backslash".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("an unclosed double quote".into()),
                    }
                }
            }
            c => current.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(current);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_with_headers_and_a_body_over_continued_lines() {
        let r = parse(
            "curl -s -X POST http://127.0.0.1:8180/api/v1/x \\\n  -H 'content-type: application/json' \\\n  -d '{\"a\": 1}'",
        )
        .expect("parses");
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://127.0.0.1:8180/api/v1/x");
        assert_eq!(
            r.headers,
            vec![("content-type".into(), "application/json".into())]
        );
        assert_eq!(r.body.as_deref(), Some("{\"a\": 1}"));
    }

    #[test]
    fn a_pipe_into_jq_is_noted_and_no_other_pipe_is_taken() {
        let r = parse("curl -s http://x/api | jq .").expect("parses");
        assert!(r.jq);
        assert_eq!(r.url, "http://x/api");
        assert!(!parse("curl -s http://x/api").expect("parses").jq);
        assert!(parse("curl -s http://x/api | jq .items").is_err());
    }

    #[test]
    fn unknown_options_are_refused() {
        assert!(parse("curl -s -N http://x").is_err());
    }
}
