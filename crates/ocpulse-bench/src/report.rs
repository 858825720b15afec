//! Results: one JSON line per figure as it is measured, and a markdown table with every
//! figure per target and the ratio of ocpulse to each other target.

use serde_json::json;

/// The column of ocpulse on PostgreSQL (`Target::OcpulsePostgres`).
const POSTGRES: &str = "ocpulse (postgres)";

/// One measured figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Which server.
    pub target: &'static str,
    /// What was measured, e.g. `connect+boot 1000 (s)`.
    pub metric: String,
    /// The value.
    pub value: f64,
}

/// Every figure of a run, in order.
#[derive(Debug, Default)]
pub struct Report {
    /// The figures.
    pub figures: Vec<Figure>,
}

impl Report {
    /// Records a figure and prints it as a JSON line.
    pub fn add(&mut self, target: &'static str, metric: impl Into<String>, value: f64) {
        let metric = metric.into();
        print_line(
            &json!({"target": target, "metric": metric, "value": (value * 1000.0).round() / 1000.0})
                .to_string(),
        );
        self.figures.push(Figure {
            target,
            metric,
            value,
        });
    }

    /// A figure already measured, if it was.
    pub fn value_of(&self, target: &str, metric: &str) -> Option<f64> {
        self.value(target, metric)
    }

    fn value(&self, target: &str, metric: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.target == target && f.metric == metric)
            .map(|f| f.value)
    }

    /// The markdown table: a row per metric, a column per target, then ocpulse ÷ each other.
    pub fn markdown(&self, header: &str) -> String {
        let mut targets: Vec<&str> = Vec::new();
        let mut metrics: Vec<&str> = Vec::new();
        for f in &self.figures {
            if !targets.contains(&f.target) {
                targets.push(f.target);
            }
            if !metrics.contains(&f.metric.as_str()) {
                metrics.push(&f.metric);
            }
        }
        // Ratios to ocpulse only when ocpulse ran (a cluster run has its own ratio rows).
        let others: Vec<&str> = targets
            .iter()
            .copied()
            .filter(|t| *t != "ocpulse" && *t != POSTGRES && targets.contains(&"ocpulse"))
            .collect();
        // ocpulse on PostgreSQL is compared with ocpulse on SQLite (issue 18's ratio).
        let postgres = targets.contains(&POSTGRES) && targets.contains(&"ocpulse");
        let mut out = format!("{header}\n\n| metric | {} |", targets.join(" | "));
        for o in &others {
            out.push_str(&format!(" ocpulse ÷ {o} |"));
        }
        if postgres {
            out.push_str(&format!(" {POSTGRES} ÷ ocpulse |"));
        }
        out.push_str(&format!(
            "\n|---|{}\n",
            "---|".repeat(targets.len() + others.len() + usize::from(postgres))
        ));
        for m in metrics {
            out.push_str(&format!("| {m} |"));
            for t in &targets {
                match self.value(t, m) {
                    Some(v) => out.push_str(&format!(" {} |", fmt(v))),
                    None => out.push_str(" – |"),
                }
            }
            for o in &others {
                match (self.value("ocpulse", m), self.value(o, m)) {
                    (Some(a), Some(b)) if b != 0.0 => out.push_str(&format!(" {:.2}× |", a / b)),
                    _ => out.push_str(" – |"),
                }
            }
            if postgres {
                match (self.value(POSTGRES, m), self.value("ocpulse", m)) {
                    (Some(a), Some(b)) if b != 0.0 => out.push_str(&format!(" {:.2}× |", a / b)),
                    _ => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
        out
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Prints one line on stdout. Not `println!`, which panics when the reader has gone
/// (`ocpulse bench | head -1`): then the process ends quietly, as a pipeline expects.
fn print_line(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("bench: cannot write to stdout: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_a_column_per_target_and_ratios_to_ocpulse() {
        let mut r = Report::default();
        r.add("ocpulse", "triggers/s", 1000.0);
        r.add("null", "triggers/s", 2000.0);
        r.add("null", "KB per station", 8.0);
        let t = r.markdown("# run");
        assert!(
            t.contains("| metric | ocpulse | null | ocpulse ÷ null |"),
            "{t}"
        );
        assert!(t.contains("| triggers/s | 1000 | 2000 | 0.50× |"), "{t}");
        assert!(t.contains("| KB per station | – | 8.00 | – |"), "{t}");
    }

    #[test]
    fn postgres_is_compared_with_ocpulse_on_sqlite() {
        let mut r = Report::default();
        r.add("ocpulse", "acked/s", 1000.0);
        r.add("ocpulse (postgres)", "acked/s", 400.0);
        r.add("null", "acked/s", 2000.0);
        let t = r.markdown("# run");
        assert!(
            t.contains("| metric | ocpulse | ocpulse (postgres) | null | ocpulse ÷ null | ocpulse (postgres) ÷ ocpulse |\n|---|---|---|---|---|---|\n"),
            "{t}"
        );
        assert!(
            t.contains("| acked/s | 1000 | 400 | 2000 | 0.50× | 0.40× |"),
            "{t}"
        );
    }
}
