//! The ocpulse domain: what a CSMS knows about its stations and how it answers them.
//!
//! No sockets, no HTTP, no SQL: station state is updated from validated payloads, the
//! CSMS's answers are computed from plain values, API trigger requests are planned into
//! OCPP calls, and storage is a port (`Store`) implemented elsewhere. Time is an argument.

pub mod admission;
pub mod alert_rules;
pub mod answers;
pub mod auth_limiter;
pub mod authorization;
pub mod capability;
pub mod charging_session;
pub mod cluster;
pub mod firmware;
pub mod fleet_job;
pub mod fleet_report;
pub mod freshness;
#[doc(hidden)]
pub mod fuzzing;
pub mod incoming;
pub mod journal;
pub mod log_request;
pub mod meter_rows;
pub mod projection;
pub mod retention;
pub mod schedule;
pub mod selector;
pub mod session;
pub mod state;
pub mod station_config;
pub mod station_ops;
pub mod store;
pub mod trigger_plan;
pub mod trigger_record;
pub mod validation;

pub use journal::{Direction, JournalEntry};
pub use state::StationState;
pub use store::{Doc, DocChange, Store};
pub use validation::ValidationMode;

/// Milliseconds since the Unix epoch: the one time unit stored and compared in the domain.
pub type Millis = i64;

/// Formats a timestamp as RFC 3339 UTC with millisecond precision, the form OCPP and the
/// API use.
///
/// `time` does the calendar; the digits are pushed here, because `time`'s
/// format-description interpreter cost ≈ 2,000 instructions a call and `format!` with
/// widths more (callgrind), and every journal entry, record and answer carries a few of
/// these. Years outside 0–9999 are clamped to the nearest representable instant.
pub fn rfc3339(ms: Millis) -> String {
    const MIN: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
    const MAX: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = ms.clamp(MIN, MAX);
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut out = String::with_capacity(24);
    let year = u32::try_from(at.year()).unwrap_or(0);
    push_digits(&mut out, year, 4);
    out.push('-');
    push_digits(&mut out, u32::from(u8::from(at.month())), 2);
    out.push('-');
    push_digits(&mut out, u32::from(at.day()), 2);
    out.push('T');
    push_digits(&mut out, u32::from(at.hour()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(at.minute()), 2);
    out.push(':');
    push_digits(&mut out, u32::from(at.second()), 2);
    out.push('.');
    push_digits(&mut out, u32::from(at.millisecond()), 3);
    out.push('Z');
    out
}

/// Pushes the last `width` decimal digits of `n`, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        out.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
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
    fn rfc3339_writes_what_the_format_description_wrote() {
        let f = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let samples = [
            0,
            1,
            999,
            -1,
            951_782_400_000,     // 2000-02-29
            1_735_732_800_123,   // 2025-01-01T12:00:00.123
            1_798_761_599_999,   // 2026-12-31T23:59:59.999
            -62_167_219_200_000, // 0000-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
        ];
        let stepped = (0..2_000).map(|i: i64| i * 7_919_876_543_211 % 253_402_300_799_999);
        for ms in samples.into_iter().chain(stepped) {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .expect("in range");
            assert_eq!(super::rfc3339(ms), at.format(&f).expect("formats"), "{ms}");
        }
    }

    #[test]
    fn rfc3339_clamps_instants_beyond_four_digit_years() {
        assert_eq!(super::rfc3339(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(super::rfc3339(i64::MIN), "0000-01-01T00:00:00.000Z");
    }

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
