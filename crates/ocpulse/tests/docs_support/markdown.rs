//! The marked examples of a Markdown page.
//!
//! An example is a `<!-- example -->` line (optionally `<!-- example status=400 -->`),
//! then a ```` ```sh ```` block holding one curl command, then a ```` ```json ```` block
//! holding the answer's body. Blank lines may separate them. Anything else after a marker is
//! an error, so a mistyped example fails the test instead of being skipped.

/// One marked example of a page; line numbers are 0-based indexes into the page's lines.
#[derive(Debug, Clone)]
pub struct Example {
    /// The marker's line (for messages).
    pub marker_line: usize,
    /// The HTTP status the example expects; `None` means any 2xx.
    pub status: Option<u16>,
    /// The lines of the command, without the fences.
    pub command: std::ops::Range<usize>,
    /// The lines of the expected body, without the fences.
    pub output: std::ops::Range<usize>,
}

const MARKER: &str = "<!-- example";

/// Every marked example of `lines`, in page order.
pub fn examples(lines: &[&str]) -> Result<Vec<Example>, String> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if !line.starts_with(MARKER) {
            i += 1;
            continue;
        }
        let marker_line = i;
        let status = parse_marker(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let (command, next) = fenced(lines, i + 1, "sh")
            .map_err(|e| format!("example at line {}: {e}", marker_line + 1))?;
        let (output, next) = fenced(lines, next, "json")
            .map_err(|e| format!("example at line {}: {e}", marker_line + 1))?;
        found.push(Example {
            marker_line,
            status,
            command,
            output,
        });
        i = next;
    }
    Ok(found)
}

/// The lines of ```` ```json ```` openings that are no example's output: answers a page
/// shows without a test checking them.
pub fn unchecked_outputs(lines: &[&str], found: &[Example]) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| lines[i].trim() == "```json")
        .filter(|&i| !found.iter().any(|e| e.output.start == i + 1))
        .collect()
}

/// Reads `status=NNN` from a marker line.
fn parse_marker(line: &str) -> Result<Option<u16>, String> {
    let inner = line
        .strip_prefix(MARKER)
        .and_then(|rest| rest.strip_suffix("-->"))
        .ok_or_else(|| format!("a marker is `<!-- example -->`, got {line:?}"))?;
    let mut status = None;
    for word in inner.split_whitespace() {
        match word.strip_prefix("status=") {
            Some(code) => {
                status = Some(
                    code.parse()
                        .map_err(|_| format!("status must be a number, got {code:?}"))?,
                )
            }
            None => {
                return Err(format!(
                    "unknown marker option {word:?} (known: status=NNN)"
                ));
            }
        }
    }
    Ok(status)
}

/// The content lines of the fenced block of `lang` that starts at or after `from` (only
/// blank lines may come first), and the index after its closing fence.
fn fenced(
    lines: &[&str],
    from: usize,
    lang: &str,
) -> Result<(std::ops::Range<usize>, usize), String> {
    let mut i = from;
    while i < lines.len() && lines[i].trim().is_empty() {
        i += 1;
    }
    let opening = format!("```{lang}");
    if lines.get(i).map(|l| l.trim()) != Some(opening.as_str()) {
        return Err(format!("expected a {opening} block at line {}", i + 1));
    }
    let start = i + 1;
    let end = (start..lines.len())
        .find(|&j| lines[j].trim() == "```")
        .ok_or_else(|| format!("the {opening} block at line {} is not closed", i + 1))?;
    Ok((start..end, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_is_a_marker_a_command_and_an_output() {
        let page = "text\n<!-- example status=404 -->\n```sh\ncurl -s x\n```\n\n```json\n{}\n```\n";
        let lines: Vec<&str> = page.lines().collect();
        let found = examples(&lines).expect("parses");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].status, Some(404));
        assert_eq!(found[0].command, 3..4);
        assert_eq!(found[0].output, 7..8);
    }

    #[test]
    fn an_output_without_a_marker_is_found() {
        let page = "<!-- example -->\n```sh\ncurl -s x\n```\n```json\n{}\n```\n```sh\ncurl -s y\n```\n```json\n{}\n```\n";
        let lines: Vec<&str> = page.lines().collect();
        let found = examples(&lines).expect("parses");
        assert_eq!(unchecked_outputs(&lines, &found), vec![10]);
    }

    #[test]
    fn a_marker_without_its_blocks_is_an_error() {
        let lines: Vec<&str> = "<!-- example -->\ntext".lines().collect();
        assert!(examples(&lines).is_err());
    }
}
