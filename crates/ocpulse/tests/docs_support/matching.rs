//! Comparing an answer with the output a page shows, where some values differ on every run.
//!
//! A page shows real output, so it holds the ids and times of the run that produced it.
//! Those match any value of the same shape: a time any time, an id any id (consistently:
//! once an id of the page stands for an id of this run, it always does, and later commands
//! that name it are rewritten with it), a duration or journal position any number.
//! Everything else must be equal.

use std::collections::BTreeMap;

use serde_json::Value;

/// Ids of the page → the ids of this run they stand for.
pub type Ids = BTreeMap<String, String>;

/// Compares `expected` with `actual`, learning ids into `ids` and appending each
/// difference (with its JSON path) to `diffs`.
pub fn compare(
    expected: &Value,
    actual: &Value,
    path: &str,
    ids: &mut Ids,
    diffs: &mut Vec<String>,
) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let here = format!("{path}.{key}");
                match a.get(key) {
                    Some(av) if varies_by_key(key) && ev.is_number() && av.is_number() => {}
                    Some(av) => compare(ev, av, &here, ids, diffs),
                    None => diffs.push(format!("{here}: missing (expected {ev})")),
                }
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                diffs.push(format!("{path}.{key}: not in the page ({})", a[key]));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                diffs.push(format!(
                    "{path}: {} items, the page shows {}",
                    a.len(),
                    e.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare(ev, av, &format!("{path}[{i}]"), ids, diffs);
            }
        }
        (Value::String(e), Value::String(a)) => {
            if !strings_match(e, a, ids) {
                diffs.push(format!("{path}: {a:?}, the page shows {e:?}"));
            }
        }
        (e, a) if e == a => {}
        (e, a) => diffs.push(format!("{path}: {a}, the page shows {e}")),
    }
}

/// Numbers under these keys are timings, times (`...At` as Unix milliseconds) or
/// positions: any number matches.
fn varies_by_key(key: &str) -> bool {
    key.ends_with("Ms")
        || key.ends_with("At")
        // Meter readings of a charging session: energy and power depend on timing.
        || key.ends_with("Wh")
        || key == "powerW"
        || matches!(key, "seq" | "uptimeSeconds" | "generation")
}

/// Whether two strings match: equal, or of the same varying shape, compared piece by piece
/// between `/` (so `/api/v1/triggers/<id>` matches with another id).
fn strings_match(expected: &str, actual: &str, ids: &mut Ids) -> bool {
    if expected == actual {
        return true;
    }
    if is_time(expected) {
        return is_time(actual);
    }
    if expected.starts_with("-----BEGIN") {
        return actual.starts_with("-----BEGIN");
    }
    if is_id(expected) {
        return is_id(actual) && same_id(expected, actual, ids);
    }
    let (e, a): (Vec<&str>, Vec<&str>) =
        (expected.split('/').collect(), actual.split('/').collect());
    e.len() > 1
        && e.len() == a.len()
        && e.iter()
            .zip(&a)
            .all(|(e, a)| e == a || (is_id(e) && is_id(a) && same_id(e, a, ids)))
}

/// Learns that `expected` stands for `actual`; false if it already stood for another.
fn same_id(expected: &str, actual: &str, ids: &mut Ids) -> bool {
    ids.entry(expected.to_owned())
        .or_insert_with(|| actual.to_owned())
        .as_str()
        == actual
}

/// An RFC 3339 UTC time as ocpulse writes it (`2026-11-22T16:49:58.187Z`).
pub fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && s.ends_with('Z')
        && b[..4].iter().all(u8::is_ascii_digit)
}

/// An id that differs per run: 16+ lowercase hex digits (record ids, serials, passwords),
/// or a message id `<hex prefix>-<counter>` (ocpulse's and the simulator's CALL ids).
pub fn is_id(s: &str) -> bool {
    let hex = |p: &str| {
        p.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    if s.len() >= 16 && hex(s) {
        return true;
    }
    match s.rsplit_once('-') {
        Some((prefix, counter)) => {
            prefix.len() >= 6
                && hex(prefix)
                && !counter.is_empty()
                && counter.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Rewrites the page's ids in a command into the ids of this run.
pub fn substitute(command: &str, ids: &Ids) -> String {
    ids.iter()
        .fold(command.to_owned(), |c, (page, run)| c.replace(page, run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_times_match_their_shape_and_ids_stay_consistent() {
        let mut ids = Ids::new();
        let mut diffs = Vec::new();
        let page = json!({"id": "01a2042a1d7d7551974e7401be5fc2ff", "at": "2026-11-22T16:49:58.655Z",
            "record": "/api/v1/triggers/01a2042a1d7d7551974e7401be5fc2ff", "elapsedMs": 2, "status": "Accepted"});
        let run = json!({"id": "01b0000000000000000000000000000f", "at": "2026-12-04T08:00:00.001Z",
            "record": "/api/v1/triggers/01b0000000000000000000000000000f", "elapsedMs": 7, "status": "Accepted"});
        compare(&page, &run, "$", &mut ids, &mut diffs);
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(
            substitute("curl /triggers/01a2042a1d7d7551974e7401be5fc2ff", &ids),
            "curl /triggers/01b0000000000000000000000000000f"
        );
    }

    #[test]
    fn other_values_must_be_equal() {
        let mut diffs = Vec::new();
        let page = json!({"status": "Accepted", "n": 1, "list": [1]});
        let run = json!({"status": "Rejected", "n": 2, "list": [1, 2], "extra": true});
        compare(&page, &run, "$", &mut Ids::new(), &mut diffs);
        assert_eq!(diffs.len(), 4, "{diffs:?}");
    }

    #[test]
    fn one_page_id_cannot_stand_for_two_run_ids() {
        let mut diffs = Vec::new();
        let page = json!(["0123456789abcdef0123", "0123456789abcdef0123"]);
        let run = json!(["aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb"]);
        compare(&page, &run, "$", &mut Ids::new(), &mut diffs);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
    }
}
