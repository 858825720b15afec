use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::journal::{Direction, JournalEntry};
use ocpulse_core::store::WriteBatch;

use super::Metrics;
use super::process::parse_stat;

fn entry(direction: Direction, frame_type: &'static str, action: &str) -> JournalEntry {
    JournalEntry {
        seq: 0,
        station_id: "CP1".into(),
        direction,
        frame_type,
        message_id: Some("1".into()),
        action: Some(action.into()),
        payload: "{}".into(),
        at: 0,
        violation: None,
        trigger_id: None,
    }
}

fn text(metrics: &Metrics) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics.registry).expect("encodes");
    text
}

#[test]
fn frames_are_counted_by_direction_action_and_type_with_unknown_actions_as_other() {
    let m = Metrics::new(Duration::from_secs(5));
    let mut made_up = entry(Direction::In, "CALL", "MadeUp");
    made_up.violation = None;
    let batch = WriteBatch {
        entries: vec![
            entry(Direction::In, "CALL", "Heartbeat"),
            entry(Direction::Out, "CALLRESULT", "Heartbeat"),
            made_up,
            JournalEntry::trigger_event("CP1", "t1", "TriggerStarted", "{}".into(), 0),
        ],
        ..WriteBatch::default()
    };
    m.batch("ocpp1.6", &batch, |a| a == "Heartbeat");
    let t = text(&m);
    assert!(
        t.contains(r#"ocpulse_frames_total{direction="in",protocol="ocpp1.6",action="Heartbeat",frame_type="CALL"} 1"#),
        "{t}"
    );
    assert!(t.contains(r#"ocpulse_frames_total{direction="out",protocol="ocpp1.6",action="Heartbeat",frame_type="CALLRESULT"} 1"#), "{t}");
    assert!(t.contains(r#"action="other",frame_type="CALL"} 1"#), "{t}");
    assert!(
        !t.contains("TriggerStarted") && !t.contains("MadeUp"),
        "{t}"
    );
    // Three frames (the event is not one) in one batch.
    assert!(t.contains("ocpulse_store_batch_entries_sum 3.0"), "{t}");
}

#[test]
fn violations_are_counted_by_what_happened_to_the_frame() {
    let m = Metrics::new(Duration::from_secs(5));
    let mut lenient = entry(Direction::In, "CALL", "StatusNotification");
    lenient.violation = Some("connectorId: must be >= 0".into());
    let mut refused = entry(Direction::Out, "CALLERROR", "StatusNotification");
    refused.payload =
        r#"{"errorCode":"PropertyConstraintViolation","errorDescription":"x","errorDetails":{}}"#
            .into();
    let mut not_implemented = entry(Direction::Out, "CALLERROR", "Foo");
    not_implemented.payload =
        r#"{"errorCode":"NotImplemented","errorDescription":"x","errorDetails":{}}"#.into();
    let mut malformed = entry(Direction::In, "MALFORMED", "");
    malformed.action = None;
    malformed.violation = Some("not JSON".into());
    let mut unmatched = entry(Direction::In, "CALLRESULT", "Reset");
    unmatched.violation =
        Some("no CALL with this message id is in flight (late or unknown answer); ignored".into());
    let batch = WriteBatch {
        entries: vec![lenient, refused, not_implemented, malformed, unmatched],
        ..WriteBatch::default()
    };
    m.batch("ocpp1.6", &batch, |_| true);
    let t = text(&m);
    for kind in ["accepted", "refused", "malformed", "unmatched"] {
        assert!(
            t.contains(&format!(r#"kind="{kind}"}} 1"#)),
            "{kind} missing:\n{t}"
        );
    }
    assert!(
        !t.contains(r#"ocpulse_validation_violations_total{protocol="ocpp1.6",action="Foo""#),
        "NotImplemented is not a violation:\n{t}"
    );
}

#[test]
fn connected_stations_and_stream_clients_go_down_when_their_guard_drops() {
    let m = Arc::new(Metrics::new(Duration::from_secs(5)));
    let a = m.station_connected("ocpp2.0.1");
    let b = m.station_connected("ocpp2.0.1");
    let s = m.event_stream_client();
    let t = text(&m);
    assert!(
        t.contains(r#"ocpulse_stations_connected{protocol="ocpp2.0.1"} 2"#),
        "{t}"
    );
    assert!(t.contains("ocpulse_event_stream_clients 1"), "{t}");
    drop((a, s));
    let t = text(&m);
    assert!(
        t.contains(r#"ocpulse_stations_connected{protocol="ocpp2.0.1"} 1"#),
        "{t}"
    );
    assert!(t.contains("ocpulse_event_stream_clients 0"), "{t}");
    drop(b);
}

#[test]
fn a_trigger_is_observed_in_seconds_under_its_message_protocol_and_outcome() {
    let m = Metrics::new(Duration::from_secs(5));
    m.trigger_ended(
        "MeterValues",
        "ocpp1.6",
        "Completed",
        Duration::from_millis(30),
    );
    let t = text(&m);
    assert!(t.contains(r#"ocpulse_trigger_duration_seconds_bucket{le="0.04",requested_message="MeterValues",protocol="ocpp1.6",outcome="Completed"} 1"#), "{t}");
    assert!(t.contains(r#"ocpulse_trigger_duration_seconds_bucket{le="0.02",requested_message="MeterValues",protocol="ocpp1.6",outcome="Completed"} 0"#), "{t}");
}

#[test]
fn process_stat_is_read_past_a_command_name_with_spaces_and_parentheses() {
    // pid (comm) state ppid ... utime=14 stime=15 ... starttime=22
    let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 12345 100 200";
    assert_eq!(parse_stat(stat), Some((250, 50, 12345)));
    assert_eq!(parse_stat("garbage"), None);
}

#[cfg(target_os = "linux")]
#[test]
fn the_process_series_are_read_from_proc() {
    let m = Metrics::new(Duration::from_secs(5));
    let t = text(&m);
    for name in [
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(t.contains(name), "{name} missing:\n{t}");
    }
}
