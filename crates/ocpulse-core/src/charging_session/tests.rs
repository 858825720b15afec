use serde_json::{Value, json};

use super::*;

fn entry(
    seq: i64,
    direction: Direction,
    frame: &'static str,
    action: &str,
    id: &str,
    payload: Value,
) -> JournalEntry {
    JournalEntry {
        seq,
        station_id: "CP1".into(),
        direction,
        frame_type: frame,
        message_id: Some(id.into()),
        action: Some(action.into()),
        payload: payload.to_string(),
        at: seq * 1_000,
        violation: None,
        trigger_id: None,
    }
}

fn call(seq: i64, action: &str, payload: Value) -> JournalEntry {
    entry(
        seq,
        Direction::In,
        "CALL",
        action,
        &format!("m{seq}"),
        payload,
    )
}

fn v16_meter(seq: i64, tx: i64, wh: &str, w: &str) -> JournalEntry {
    call(
        seq,
        "MeterValues",
        json!({"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": format!("t{seq}"), "sampledValue": [
            {"value": wh, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": w, "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"}
        ]}]}),
    )
}

#[test]
fn a_v16_session_opens_on_the_answered_start_rises_with_meter_values_and_ends_on_stop() {
    let mut fold = SessionFold::default();
    assert_eq!(fold.apply(&call(10, "StartTransaction", json!({"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2025-01-01T00:00:00Z"}))), None);
    let answer = entry(
        11,
        Direction::Out,
        "CALLRESULT",
        "StartTransaction",
        "m10",
        json!({"transactionId": 42, "idTagInfo": {"status": "Accepted"}}),
    );
    let opened = fold.apply(&answer).expect("opened");
    assert_eq!(
        (
            opened.id.as_str(),
            opened.transaction_id.as_str(),
            opened.connector_id,
            opened.id_token.as_deref()
        ),
        ("000000000000000a", "42", Some(1), Some("TAG1"))
    );
    assert_eq!(
        (
            opened.authorization.as_deref(),
            opened.energy_wh,
            opened.active,
            opened.received_at
        ),
        (Some("Accepted"), Some(0.0), true, 10_000)
    );
    let s = fold
        .apply(&v16_meter(12, 42, "1500", "11000"))
        .expect("meter");
    assert_eq!(
        (s.energy_wh, s.power_w, s.meter_now_wh),
        (Some(500.0), Some(11000.0), Some(1500.0))
    );
    let s = fold.apply(&v16_meter(13, 42, "2.5", "0")).expect("meter");
    assert_eq!(s.timeline.len(), 2);
    assert_eq!(
        s.timeline[0],
        MeterPoint {
            timestamp: "t12".into(),
            seq: 12,
            energy_wh: Some(1500.0),
            power_w: Some(11000.0)
        }
    );
    assert!(
        fold.apply(&v16_meter(14, 99, "9", "9")).is_none(),
        "another transaction's meter values change nothing"
    );
    let ended = fold
        .apply(&call(15, "StopTransaction", json!({"transactionId": 42, "meterStop": 3000, "timestamp": "2025-01-01T01:00:00Z", "reason": "Remote"})))
        .expect("ended");
    assert_eq!(
        (
            ended.active,
            ended.energy_wh,
            ended.power_w,
            ended.stop_reason.as_deref()
        ),
        (false, Some(2000.0), Some(0.0), Some("Remote"))
    );
    assert_eq!(
        (
            ended.stopped_at.as_deref(),
            ended.ended_received_at,
            ended.last_seq
        ),
        (Some("2025-01-01T01:00:00Z"), Some(15_000), 15)
    );
    assert!(fold.open.is_empty());
}

#[test]
fn a_v16_stop_without_reason_is_local_and_transaction_data_is_read() {
    let mut fold = SessionFold::default();
    fold.apply(&call(
        1,
        "StartTransaction",
        json!({"connectorId": 2, "idTag": "T", "meterStart": 0, "timestamp": "s"}),
    ));
    fold.apply(&entry(
        2,
        Direction::Out,
        "CALLRESULT",
        "StartTransaction",
        "m1",
        json!({"transactionId": 7, "idTagInfo": {"status": "Invalid"}}),
    ));
    let ended = fold
        .apply(&call(3, "StopTransaction", json!({"transactionId": 7, "meterStop": 20, "timestamp": "e", "transactionData": [{"timestamp": "e", "sampledValue": [{"value": "2", "unit": "kW", "measurand": "Power.Active.Import"}]}]})))
        .expect("ended");
    assert_eq!(
        (
            ended.stop_reason.as_deref(),
            ended.energy_wh,
            ended.authorization.as_deref()
        ),
        (Some("Local"), Some(20.0), Some("Invalid"))
    );
    assert_eq!(ended.timeline[0].power_w, Some(2000.0), "kW read as W");
}

#[test]
fn a_start_answered_with_an_error_or_another_id_opens_nothing() {
    let mut fold = SessionFold::default();
    fold.apply(&call(
        1,
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "s"}),
    ));
    assert!(
        fold.apply(&entry(
            2,
            Direction::Out,
            "CALLRESULT",
            "StartTransaction",
            "other",
            json!({"transactionId": 1, "idTagInfo": {"status": "Accepted"}})
        ))
        .is_none()
    );
    fold.apply(&call(
        3,
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "s"}),
    ));
    assert!(
        fold.apply(&entry(
            4,
            Direction::Out,
            "CALLERROR",
            "StartTransaction",
            "m3",
            json!({})
        ))
        .is_none()
    );
    assert!(fold.open.is_empty());
}

fn event(seq: i64, kind: &str, extra: Value) -> JournalEntry {
    let mut p = json!({"eventType": kind, "timestamp": format!("t{seq}"), "triggerReason": "Authorized", "seqNo": seq,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"}});
    if let (Value::Object(p), Value::Object(extra)) = (&mut p, extra) {
        for (k, v) in extra {
            if k == "transactionInfo" {
                if let (Some(Value::Object(info)), Value::Object(more)) =
                    (p.get_mut("transactionInfo"), v)
                {
                    info.extend(more);
                }
            } else {
                p.insert(k, v);
            }
        }
    }
    call(seq, "TransactionEvent", p)
}

fn reading(wh: f64, kw: f64) -> Value {
    json!([{"timestamp": "r", "sampledValue": [
        {"value": wh, "unitOfMeasure": {"unit": "kWh"}},
        {"value": kw, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W", "multiplier": 3}}
    ]}])
}

#[test]
fn a_v2_session_follows_its_transaction_events() {
    let mut fold = SessionFold::default();
    let s = fold
        .apply(&event(5, "Started", json!({"evse": {"id": 2, "connectorId": 1}, "idToken": {"idToken": "ABC", "type": "ISO14443"},
            "transactionInfo": {"remoteStartId": 77}, "meterValue": reading(10.0, 0.0)})))
        .expect("started");
    assert_eq!(
        (
            s.id.as_str(),
            s.family.as_str(),
            s.evse_id,
            s.connector_id,
            s.id_token.as_deref(),
            s.remote_start_id
        ),
        (
            "0000000000000005",
            "2.x",
            Some(2),
            Some(1),
            Some("ABC"),
            Some(77)
        )
    );
    assert_eq!(
        (s.meter_start_wh, s.energy_wh, s.started_at.as_str()),
        (Some(10_000.0), Some(0.0), "t5")
    );
    let s = fold
        .apply(&event(
            6,
            "Updated",
            json!({"meterValue": reading(10.5, 7.4)}),
        ))
        .expect("updated");
    assert_eq!(
        (s.id.as_str(), s.energy_wh, s.power_w, s.evse_id),
        ("0000000000000005", Some(500.0), Some(7400.0), Some(2))
    );
    let s = fold
        .apply(&event(7, "Ended", json!({"transactionInfo": {"stoppedReason": "Remote", "chargingState": "Idle"}, "meterValue": reading(11.0, 0.0)})))
        .expect("ended");
    assert_eq!(
        (
            s.id.as_str(),
            s.active,
            s.energy_wh,
            s.stop_reason.as_deref(),
            s.charging_state.as_deref()
        ),
        (
            "0000000000000005",
            false,
            Some(1000.0),
            Some("Remote"),
            Some("Idle")
        )
    );
    assert_eq!(s.timeline.len(), 3);
    assert!(fold.open.is_empty());
}

#[test]
fn a_v2_session_first_seen_mid_way_opens_there_and_an_ended_one_has_the_default_reason() {
    let mut fold = SessionFold::default();
    let s = fold.apply(&event(3, "Updated", json!({}))).expect("opened");
    assert!(s.active && s.id == session_id(3));
    assert_eq!(opening_seq(&s.id), Some(3));
    assert_eq!(opening_seq("3"), None);
    let s = fold.apply(&event(4, "Ended", json!({}))).expect("ended");
    assert_eq!(
        (s.id.as_str(), s.stop_reason.as_deref()),
        ("0000000000000003", Some("Local"))
    );
}

#[test]
fn the_timeline_keeps_the_newest_readings_and_replays_are_skipped() {
    let mut fold = SessionFold::default();
    fold.apply(&call(
        1,
        "StartTransaction",
        json!({"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "s"}),
    ));
    fold.apply(&entry(
        2,
        Direction::Out,
        "CALLRESULT",
        "StartTransaction",
        "m1",
        json!({"transactionId": 1, "idTagInfo": {"status": "Accepted"}}),
    ));
    let n = i64::try_from(TIMELINE_MAX).expect("small") + 5;
    let mut last = None;
    for i in 0..n {
        last = fold.apply(&v16_meter(3 + i, 1, &i.to_string(), "1"));
    }
    let s = last.expect("session");
    assert_eq!(s.timeline.len(), TIMELINE_MAX);
    assert_eq!(s.timeline[0].energy_wh, Some(5.0));
    assert!(
        fold.apply(&v16_meter(3, 1, "0", "0")).is_none(),
        "an entry already folded is skipped"
    );
    let stored: SessionFold =
        serde_json::from_str(&serde_json::to_string(&fold).expect("ser")).expect("de");
    assert_eq!(stored, fold);
}

#[test]
fn filters_and_start_watches_select_sessions() {
    let mut fold = SessionFold::default();
    let s = fold
        .apply(&event(
            5,
            "Started",
            json!({"evse": {"id": 2}, "idToken": {"idToken": "ABC", "type": "Central"}}),
        ))
        .expect("s");
    let all = SessionFilter::default();
    assert!(all.matches(&s));
    assert!(
        SessionFilter {
            station_id: Some("CP1".into()),
            active: Some(true),
            from: Some(5_000),
            to: Some(5_001)
        }
        .matches(&s)
    );
    assert!(
        !SessionFilter {
            active: Some(false),
            ..all.clone()
        }
        .matches(&s)
    );
    assert!(
        !SessionFilter {
            to: Some(5_000),
            ..all.clone()
        }
        .matches(&s)
    );
    assert!(
        !SessionFilter {
            station_id: Some("CP2".into()),
            ..all
        }
        .matches(&s)
    );
    let watch = StartWatch {
        station_id: "CP1".into(),
        after_seq: 4,
        target: Some(2),
        id_token: "ABC".into(),
        remote_start_id: Some(1),
        transaction_id: None,
    };
    assert!(
        watch.matches(&s),
        "no remoteStartId on the session: token, target and order decide"
    );
    assert!(
        !StartWatch {
            after_seq: 5,
            ..watch.clone()
        }
        .matches(&s)
    );
    assert!(
        !StartWatch {
            target: Some(1),
            ..watch.clone()
        }
        .matches(&s)
    );
    let mut remote = s.clone();
    remote.remote_start_id = Some(2);
    assert!(
        !watch.matches(&remote),
        "another remoteStartId is another start"
    );
    remote.remote_start_id = Some(1);
    remote.id_token = None;
    assert!(watch.matches(&remote));
}

#[test]
fn start_and_stop_calls_speak_each_version() {
    use ocpp_rpc::Family;
    assert_eq!(
        remote_start(Family::V16, Some(2), "T", None, 9),
        (
            "RemoteStartTransaction",
            json!({"connectorId": 2, "idTag": "T"})
        )
    );
    assert_eq!(
        remote_start(Family::V16, None, "T", Some("ISO14443"), 9).1,
        json!({"idTag": "T"})
    );
    assert_eq!(
        remote_start(Family::V2, Some(1), "T", None, 9),
        (
            "RequestStartTransaction",
            json!({"evseId": 1, "idToken": {"idToken": "T", "type": "Central"}, "remoteStartId": 9})
        )
    );
    let mut fold = SessionFold::default();
    let s = fold.apply(&event(5, "Started", json!({}))).expect("s");
    assert_eq!(
        remote_stop(Family::V2, &s),
        Some(("RequestStopTransaction", json!({"transactionId": "tx-1"})))
    );
    assert_eq!(remote_stop(Family::V16, &s), None, "tx-1 is no 1.6 id");
    let mut old = s;
    old.transaction_id = "42".into();
    assert_eq!(
        remote_stop(Family::V16, &old),
        Some(("RemoteStopTransaction", json!({"transactionId": 42})))
    );
    let watch = StartWatch {
        station_id: "CP1".into(),
        after_seq: 100,
        target: None,
        id_token: "x".into(),
        remote_start_id: None,
        transaction_id: Some("42".into()),
    };
    assert!(watch.matches(&old), "the transaction the answer named");
}
