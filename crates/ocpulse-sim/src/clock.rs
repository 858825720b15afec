//! Time as the station sees it: a monotonic instant for timers and the wall clock for the
//! timestamps OCPP payloads carry. Passed in, never read, so the station stays testable.

use std::time::{Duration, Instant};

/// The current time, in both forms a station needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// For timers.
    pub mono: Instant,
    /// Milliseconds since the Unix epoch, for payload timestamps.
    pub wall_ms: i64,
}

impl Now {
    /// Reads both clocks (the only place the simulator reads a clock; the runner calls it).
    pub fn system() -> Self {
        let wall = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Self {
            mono: Instant::now(),
            wall_ms: i64::try_from(wall).unwrap_or(0),
        }
    }

    /// The same moment plus `d` (tests step time with this).
    pub fn after(self, d: Duration) -> Self {
        Self {
            mono: self.mono + d,
            wall_ms: self.wall_ms + i64::try_from(d.as_millis()).unwrap_or(0),
        }
    }

    /// RFC 3339 UTC with millisecond precision, as payloads carry it.
    pub fn rfc3339(self) -> String {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.wall_ms) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let f = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        at.format(&f).unwrap_or_default()
    }
}
