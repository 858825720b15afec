//! The fold with plain entries: what each kind of entry does to a station's state.

use super::*;

fn entry(
    seq: i64,
    direction: Direction,
    frame_type: &'static str,
    action: &str,
    payload: &str,
) -> JournalEntry {
    JournalEntry {
        seq,
        station_id: "CP1".into(),
        direction,
        frame_type,
        message_id: Some(format!("m{}", (seq + 1) / 2)),
        action: Some(action.into()),
        payload: payload.into(),
        at: 1_000 + seq,
        violation: None,
        trigger_id: None,
    }
}

fn event(seq: i64, action: &str, payload: &str) -> JournalEntry {
    JournalEntry {
        message_id: None,
        ..entry(seq, Direction::In, EVENT, action, payload)
    }
}

const CONNECTED: &str = r#"{"generation":1,"protocol":"ocpp1.6"}"#;
const HEARTBEAT_ANSWER: &str = r#"{"currentTime":"2026-12-04T00:00:00.000Z"}"#;

fn state(p: Projection) -> StationState {
    let mut states = p.into_states();
    assert_eq!(states.len(), 1);
    states.remove(0)
}

#[test]
fn an_acknowledged_call_changes_state_and_a_refused_one_does_not() {
    let mut p = Projection::default();
    p.apply(&entry(1, Direction::In, "CALL", "Heartbeat", "{}"));
    p.apply(&entry(
        2,
        Direction::Out,
        "CALLRESULT",
        "Heartbeat",
        HEARTBEAT_ANSWER,
    ));
    p.apply(&entry(3, Direction::In, "CALL", "Heartbeat", "{}"));
    p.apply(&entry(4, Direction::Out, "CALLERROR", "Heartbeat", "{}"));
    let s = state(p);
    assert_eq!(
        s.last_heartbeat,
        Some(1_001),
        "only the acknowledged heartbeat counts"
    );
    assert_eq!(s.last_seen, Some(1_003), "a refused CALL was still seen");
}

#[test]
fn a_connection_sets_the_protocol_and_no_restart_keeps_it_connected() {
    let mut p = Projection::default();
    p.apply(&event(1, STATION_CONNECTED, CONNECTED));
    assert!(p.iter().all(|f| f.state.connected_since == Some(1_001)));
    let s = state(p);
    assert_eq!(s.protocol.as_deref(), Some("ocpp1.6"));
    assert_eq!(s.last_seen, Some(1_001));
    assert_eq!(
        s.connected_since, None,
        "nothing is connected after a restart"
    );
}

#[test]
fn entries_a_snapshot_reflects_are_skipped() {
    let mut snapshot = StationState::new("CP1");
    snapshot.violations = 7;
    let mut p = Projection::new([Folded {
        seq: 4,
        state: snapshot,
    }]);
    let mut lenient = entry(3, Direction::In, "CALL", "Heartbeat", "{}");
    lenient.violation = Some("extra field".into());
    p.apply(&lenient);
    p.apply(&entry(
        4,
        Direction::Out,
        "CALLRESULT",
        "Heartbeat",
        HEARTBEAT_ANSWER,
    ));
    let mut later = entry(5, Direction::In, "CALL", "Heartbeat", "{}");
    later.violation = Some("extra field".into());
    p.apply(&later);
    p.apply(&entry(
        6,
        Direction::Out,
        "CALLRESULT",
        "Heartbeat",
        HEARTBEAT_ANSWER,
    ));
    let s = state(p);
    assert_eq!(
        s.violations, 8,
        "the violation at seq 3 was in the snapshot already"
    );
    assert_eq!(s.last_violation.map(|v| v.at), Some(1_005));
}

#[test]
fn decisions_made_outside_a_frame_are_replayed_from_their_events() {
    let mut p = Projection::default();
    p.apply(&event(1, VALIDATION_MODE_CHANGED, r#"{"mode":"lenient"}"#));
    p.apply(&event(
        2,
        TRIGGER_MARKING_LEARNED,
        r#"{"marking":"doesNotMark"}"#,
    ));
    p.apply(&event(
        3,
        CERTIFICATE_REQUESTED,
        r#"{"requestedAt":1,"certificateType":null,"csrSubject":"CN=CP1","status":"Signed","reason":null,"serial":"0a","notAfter":null,"certificateSignedStatus":null,"answeredAt":null}"#,
    ));
    p.apply(&event(
        4,
        CERTIFICATE_SIGNED_ANSWERED,
        r#"{"serial":"0a","status":"Accepted"}"#,
    ));
    p.apply(&event(
        5,
        TRIGGER_COMPLETED,
        r#"{"complete":true,"elapsedMs":12,"messages":1,"outcome":"Completed","requestedMessage":"Heartbeat","capability":"Heartbeat","acceptedBy":"TriggerMessage","firstMessageMs":9}"#,
    ));
    let s = state(p);
    assert_eq!(s.validation_mode, Some(ValidationMode::Lenient));
    assert_eq!(s.trigger_marking, Marking::DoesNotMark);
    let cert = s.certificate.expect("the certificate request");
    assert_eq!(cert.certificate_signed_status.as_deref(), Some("Accepted"));
    assert_eq!(cert.answered_at, Some(1_004));
    let heartbeat = &s.capabilities["Heartbeat"];
    assert_eq!((heartbeat.accepted, heartbeat.delivered), (1, 1));
    assert_eq!(heartbeat.works_with.as_deref(), Some("TriggerMessage"));
}

#[test]
fn a_result_for_another_message_applies_nothing() {
    let mut p = Projection::default();
    p.apply(&entry(1, Direction::In, "CALL", "Heartbeat", "{}"));
    let mut other = entry(
        2,
        Direction::Out,
        "CALLRESULT",
        "Heartbeat",
        HEARTBEAT_ANSWER,
    );
    other.message_id = Some("another".into());
    p.apply(&other);
    assert_eq!(state(p).last_heartbeat, None);
}
