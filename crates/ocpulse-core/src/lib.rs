//! The ocpulse domain: what a CSMS knows about its stations and how it answers them.
//!
//! No sockets, no HTTP, no SQL: station state is updated from validated payloads, the
//! CSMS's answers are computed from plain values, API trigger requests are planned into
//! OCPP calls, and storage is a port (`Store`) implemented elsewhere. Time is an argument.

pub mod alert_rules;
pub mod answers;
pub mod capability;
pub mod fleet_job;
pub mod fleet_report;
pub mod freshness;
pub mod journal;
pub mod meter_rows;
pub mod schedule;
pub mod selector;
pub mod state;
pub mod store;
pub mod trigger_plan;
pub mod trigger_record;
pub mod validation;

pub use journal::{Direction, JournalEntry};
pub use state::StationState;
pub use store::{Doc, Store};
pub use validation::ValidationMode;

/// Milliseconds since the Unix epoch: the one time unit stored and compared in the domain.
pub type Millis = i64;

/// Formats a timestamp as RFC 3339 UTC with millisecond precision, the form OCPP and the
/// API use.
pub fn rfc3339(ms: Millis) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&f).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp into milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_round_trip_through_rfc3339() {
        let ms = 1_735_732_800_123;
        assert_eq!(super::rfc3339(ms), "2025-01-01T12:00:00.123Z");
        assert_eq!(super::parse_rfc3339(&super::rfc3339(ms)), Some(ms));
        assert_eq!(
            super::parse_rfc3339("2025-01-01T13:00:00+01:00"),
            Some(1_735_732_800_000)
        );
    }
}
