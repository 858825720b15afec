//! How the client commands print: aligned tables, the API's JSON, and colour on a terminal
//! only (never in a pipe or a file, never with `NO_COLOR` set), all through
//! `crate::stdout` so a closed pipe ends the command quietly.

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use serde_json::Value;

/// Prints a value as indented JSON.
pub(crate) fn json(value: &Value) -> anyhow::Result<()> {
    crate::stdout::line(&serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A JSON value as a table cell: `-` for null, strings without quotes.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Lays out rows under a header, each column as wide as its widest cell (colour codes
/// are not counted).
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(visible_width(cell));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (cell, w) in cells.iter().zip(&widths) {
            let pad = w.saturating_sub(visible_width(cell));
            let _ = write!(l, "{cell}{:pad$}  ", "");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
    out
}

/// Prints a table, or `none` when there are no rows.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        crate::stdout::line("none");
    } else {
        crate::stdout::text(&table(header, rows));
    }
}

fn visible_width(s: &str) -> usize {
    let mut width = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // An SGR sequence: ESC [ ... m.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

/// Whether stdout takes colour: a terminal, and `NO_COLOR` unset (no-color.org).
pub(crate) fn colour() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// An outcome or status name, green when it went well, yellow while open, red otherwise
/// (on a terminal; the bare name elsewhere).
pub(crate) fn outcome(name: &str) -> String {
    paint(name, colour())
}

/// A job's or rollout's `counts` object as `name n, name n`: the one-line progress both
/// print while they follow it.
pub(crate) fn counts(item: &Value) -> String {
    item["counts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `name` coloured by what it says when `on`.
pub(crate) fn paint(name: &str, on: bool) -> String {
    if !on {
        return name.to_owned();
    }
    let code = match name {
        "Completed" | "completed" | "Accepted" | "ok" | "connected" | "active" | "delivered"
        | "installed" => "32",
        "Pending" | "Running" | "running" | "Partial" | "pending" | "acknowledged" | "sent"
        | "updating" | "canary" | "waiting" | "rest" => "33",
        "-" | "offline" | "resolved" | "cancelled" | "skipped" => "2",
        _ => "31",
    };
    format!("\x1b[{code}m{name}\x1b[0m")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_align_columns_to_the_widest_cell() {
        let t = super::table(
            &["A", "BB"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "".into()]],
        );
        assert_eq!(t, "A    BB\nxxx  y\nz\n");
    }

    #[test]
    fn colour_codes_do_not_count_as_width_and_only_colour_when_on() {
        let red = super::paint("Rejected", true);
        assert_eq!(red, "\x1b[31mRejected\x1b[0m");
        assert_eq!(super::paint("Rejected", false), "Rejected");
        assert_eq!(super::paint("Completed", true), "\x1b[32mCompleted\x1b[0m");
        let t = super::table(&["OUTCOME", "X"], &[vec![red, "1".into()]]);
        assert_eq!(
            t.lines().nth(1),
            Some("\x1b[31mRejected\x1b[0m  1"),
            "padded by visible width"
        );
    }
}
