//! Rate-limits repeated warnings and errors: an event formatter around the real one that
//! drops a WARN or ERROR whose message (at the same call site) was written less than the
//! interval ago, counting it, and appends ` (N similar suppressed)` (text) or a
//! `"suppressed": N` field (JSON) to the next one it writes. Lower levels always pass: a
//! station's connect and disconnect lines are information, not noise.
//!
//! Only the message counts, not the other fields: the same failure for 200 stations (each
//! line with its own `station`) is one line a second.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Distinct messages remembered at most; beyond it the ones not seen within the interval
/// are forgotten (their pending counts with them).
const REMEMBERED: usize = 4096;

/// A message's last line and what was dropped since.
struct Seen {
    written: Instant,
    suppressed: u64,
}

/// The formatter (see the module comment).
pub struct RateLimited<F> {
    inner: F,
    json: bool,
    every: Duration,
    seen: Mutex<HashMap<(Identifier, String), Seen>>,
}

impl<F> RateLimited<F> {
    /// Wraps `inner`; `json` says whether its lines are JSON objects (how to add the count).
    pub fn new(inner: F, json: bool, every: Duration) -> Self {
        Self {
            inner,
            json,
            every,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether to write the event now, and how many like it were dropped before it.
    fn admit(&self, key: (Identifier, String), now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock();
        if let Some(s) = seen.get_mut(&key) {
            if now.duration_since(s.written) < self.every {
                s.suppressed += 1;
                return None;
            }
            let dropped = s.suppressed;
            *s = Seen {
                written: now,
                suppressed: 0,
            };
            return Some(dropped);
        }
        if seen.len() >= REMEMBERED {
            let every = self.every;
            seen.retain(|_, s| now.duration_since(s.written) < every);
        }
        seen.insert(
            key,
            Seen {
                written: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

/// Reads an event's `message` field.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for RateLimited<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut message = Message::default();
        event.record(&mut message);
        let key = (event.metadata().callsite(), message.0);
        let Some(dropped) = self.admit(key, Instant::now()) else {
            // Nothing written: the layer writes an empty line as nothing.
            return Ok(());
        };
        if dropped == 0 {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let body = line.trim_end_matches('\n');
        if self.json {
            match body.strip_suffix('}') {
                Some(open) => writeln!(writer, "{open},\"suppressed\":{dropped}}}"),
                None => writeln!(writer, "{body}"),
            }
        } else {
            writeln!(writer, "{body} ({dropped} similar suppressed)")
        }
    }
}
