use ocpp_rpc::Family;
use serde_json::{Value, json};

use super::progress::{Phase, StationUpdate};
use super::rollout::{Action, Policy, Rollout, Stage};
use super::{FirmwareAsk, UpdateCall};
use crate::journal::{Direction, JournalEntry};

fn ask() -> FirmwareAsk {
    FirmwareAsk {
        location: "https://fw.example.com/fw-2.0.bin".into(),
        ..FirmwareAsk::default()
    }
}

fn report(station: &str, seq: i64, at: i64, action: &str, payload: Value) -> JournalEntry {
    JournalEntry {
        seq,
        station_id: station.into(),
        direction: Direction::In,
        frame_type: "CALL",
        message_id: Some(format!("m{seq}")),
        action: Some(action.into()),
        payload: payload.to_string(),
        at,
        violation: None,
        trigger_id: None,
    }
}

fn policy(canary_percent: u8) -> Policy {
    Policy {
        canary_percent,
        canary_wait_ms: 1_000,
        max_failure_percent: 20,
        concurrency: 10,
        install_timeout_ms: 60_000,
        quiet_after_ms: 5_000,
    }
}

fn sends(actions: &[Action]) -> Vec<usize> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(i) => Some(*i),
            Action::AskStatus(_) => None,
        })
        .collect()
}

#[test]
fn each_version_gets_its_call_and_payload() {
    let mut a = ask();
    assert_eq!(
        UpdateCall::for_station(Family::V16, a.signed()),
        UpdateCall::UpdateFirmware16
    );
    let p = UpdateCall::UpdateFirmware16.payload(&a, 7, "2026-12-04T00:00:00Z");
    assert_eq!(
        p,
        json!({"location": a.location, "retrieveDate": "2026-12-04T00:00:00Z"})
    );
    a.signing_certificate = Some("PEM".into());
    a.signature = Some("c2ln".into());
    a.retries = Some(3);
    let call = UpdateCall::for_station(Family::V16, a.signed());
    assert_eq!(call, UpdateCall::SignedUpdateFirmware);
    assert_eq!(call.action(), "SignedUpdateFirmware");
    let p = call.payload(&a, 7, "2026-12-04T00:00:00Z");
    assert_eq!(p["requestId"], 7);
    assert_eq!(p["retries"], 3);
    assert_eq!(p["firmware"]["signingCertificate"], "PEM");
    assert_eq!(p["firmware"]["retrieveDateTime"], "2026-12-04T00:00:00Z");
    assert_eq!(
        UpdateCall::for_station(Family::V2, false).action(),
        "UpdateFirmware"
    );
}

#[test]
fn a_bad_ask_is_refused_with_what_would_be_right() {
    let mut a = ask();
    assert!(a.check().is_ok());
    a.location = "fw.bin".into();
    assert!(a.check().expect_err("refused").contains("https://"));
    a.location = "file:///etc/passwd".into();
    assert!(a.check().is_err());
    let mut a = ask();
    a.signature = Some("c2ln".into());
    assert!(a.check().expect_err("refused").contains("both"));
    let mut a = ask();
    a.install_at = Some("2026-12-04T00:00:00Z".into());
    assert!(a.check().expect_err("refused").contains("signed"));
    let mut a = ask();
    a.retries = Some(-1);
    assert!(a.check().expect_err("refused").contains("retries"));
}

#[test]
fn reports_carry_a_station_to_installed_and_refusals_fail_it() {
    let mut s = StationUpdate::pending("A");
    s.sent(UpdateCall::UpdateFirmware2, Some(5), 100);
    s.answered(&json!({"status": "Accepted"}), 110);
    assert_eq!(s.phase, Phase::Updating);
    // Another update's report is not this one's.
    s.observe(
        &report(
            "A",
            1,
            120,
            "FirmwareStatusNotification",
            json!({"status": "DownloadFailed", "requestId": 4}),
        ),
        None,
    );
    assert_eq!(s.phase, Phase::Updating);
    for (seq, status) in [
        (2, "Downloading"),
        (3, "Downloaded"),
        (4, "Installing"),
        (5, "Installed"),
    ] {
        s.observe(
            &report(
                "A",
                seq,
                120 + seq,
                "FirmwareStatusNotification",
                json!({"status": status, "requestId": 5}),
            ),
            None,
        );
    }
    assert_eq!(s.phase, Phase::Installed);
    assert_eq!(s.reports.len(), 4);

    let mut r = StationUpdate::pending("B");
    r.sent(UpdateCall::SignedUpdateFirmware, Some(6), 100);
    r.answered(&json!({"status": "InvalidCertificate"}), 110);
    assert_eq!(r.phase, Phase::Failed);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("InvalidCertificate"))
    );

    let mut f = StationUpdate::pending("C");
    f.sent(UpdateCall::UpdateFirmware16, None, 100);
    f.answered(&json!({}), 110);
    f.observe(
        &report(
            "C",
            7,
            120,
            "FirmwareStatusNotification",
            json!({"status": "Downloading"}),
        ),
        None,
    );
    f.observe(
        &report(
            "C",
            8,
            130,
            "FirmwareStatusNotification",
            json!({"status": "DownloadFailed"}),
        ),
        None,
    );
    assert_eq!(f.phase, Phase::Failed);
}

#[test]
fn a_boot_with_the_expected_version_proves_the_install_and_idle_after_progress_fails() {
    let mut s = StationUpdate::pending("A");
    s.sent(UpdateCall::UpdateFirmware16, None, 100);
    s.answered(&json!({}), 110);
    s.observe(
        &report(
            "A",
            1,
            120,
            "BootNotification",
            json!({"chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.0"}),
        ),
        Some("2.0"),
    );
    assert_eq!(s.phase, Phase::Updating, "the old version proves nothing");
    s.observe(&report("A", 2, 130, "BootNotification", json!({"reason": "FirmwareUpdate", "chargingStation": {"model": "M", "vendorName": "V", "firmwareVersion": "2.0"}})), Some("2.0"));
    assert_eq!(s.phase, Phase::Installed);

    let mut i = StationUpdate::pending("B");
    i.sent(UpdateCall::UpdateFirmware16, None, 100);
    i.answered(&json!({}), 110);
    i.observe(
        &report(
            "B",
            3,
            120,
            "FirmwareStatusNotification",
            json!({"status": "Idle"}),
        ),
        None,
    );
    assert_eq!(
        i.phase,
        Phase::Updating,
        "Idle before it started is waiting for the retrieve time"
    );
    i.observe(
        &report(
            "B",
            4,
            130,
            "FirmwareStatusNotification",
            json!({"status": "Installing"}),
        ),
        None,
    );
    i.observe(
        &report(
            "B",
            5,
            140,
            "FirmwareStatusNotification",
            json!({"status": "Idle"}),
        ),
        None,
    );
    assert_eq!(i.phase, Phase::Failed);
}

#[test]
fn a_quiet_station_is_asked_once_per_quiet_period_and_expires_at_its_limit() {
    let mut s = StationUpdate::pending("A");
    s.sent(UpdateCall::UpdateFirmware2, Some(1), 0);
    s.answered(&json!({"status": "Accepted"}), 10);
    assert!(!s.quiet(4_000, 5_000));
    assert!(s.quiet(5_010, 5_000));
    assert!(s.triggered(5_010));
    assert!(!s.quiet(6_000, 5_000));
    assert!(s.quiet(10_010, 5_000));
    s.expire(59_999, 60_000);
    assert_eq!(s.phase, Phase::Updating);
    s.expire(60_000, 60_000);
    assert_eq!(s.phase, Phase::Failed);
    assert!(!s.quiet(70_000, 5_000));
}

fn install(r: &mut Rollout, i: usize, seq: i64, at: i64) {
    let id = r.stations[i].station_id.clone();
    r.observe(&report(
        &id,
        seq,
        at,
        "FirmwareStatusNotification",
        json!({"status": "Installed"}),
    ));
}

fn fail(r: &mut Rollout, i: usize, seq: i64, at: i64) {
    let id = r.stations[i].station_id.clone();
    r.observe(&report(
        &id,
        seq,
        at,
        "FirmwareStatusNotification",
        json!({"status": "InstallationFailed"}),
    ));
}

fn send_all(r: &mut Rollout, actions: &[Action], at: i64) {
    for i in sends(actions) {
        r.stations[i].sent(UpdateCall::UpdateFirmware16, None, at);
        r.stations[i].answered(&json!({}), at);
    }
}

#[test]
fn the_canary_goes_first_then_a_wait_then_the_rest() {
    let ids: Vec<String> = (0..10).map(|i| format!("S{i}")).collect();
    let mut r = Rollout::new("r".into(), ask(), policy(20), ids, 0, 0);
    assert_eq!(r.canary, 2);
    let first = r.step(0);
    assert_eq!(sends(&first), vec![0, 1]);
    send_all(&mut r, &first, 0);
    assert!(
        sends(&r.step(100)).is_empty(),
        "nothing else while the canary runs"
    );
    install(&mut r, 0, 1, 200);
    assert!(sends(&r.step(200)).is_empty());
    install(&mut r, 1, 2, 300);
    assert!(sends(&r.step(300)).is_empty());
    assert_eq!(r.stage, Stage::Waiting);
    assert!(sends(&r.step(1_200)).is_empty(), "the wait is not over");
    let rest = r.step(1_300);
    assert_eq!(r.stage, Stage::Rest);
    assert_eq!(sends(&rest), (2..10).collect::<Vec<_>>());
    send_all(&mut r, &rest, 1_300);
    for i in 2..10 {
        install(&mut r, i, 10 + i as i64, 1_400);
    }
    r.step(1_500);
    assert_eq!(r.stage, Stage::Completed);
    assert_eq!(r.finished_at, Some(1_500));
    assert_eq!(r.seq, 19);
}

#[test]
fn too_many_failures_halt_it_and_the_unsent_are_skipped() {
    let ids: Vec<String> = (0..10).map(|i| format!("S{i}")).collect();
    let mut r = Rollout::new("r".into(), ask(), policy(20), ids, 0, 0);
    let first = r.step(0);
    send_all(&mut r, &first, 0);
    fail(&mut r, 0, 1, 100);
    r.step(100);
    assert_eq!(
        r.stage,
        Stage::Canary,
        "one early failure among the canary is no rate yet"
    );
    install(&mut r, 1, 2, 200);
    r.step(200);
    assert_eq!(r.stage, Stage::Halted);
    assert!(r.reason.as_deref().is_some_and(|w| w.contains("1 of 2")));
    assert!(r.stations[2..].iter().all(|s| s.phase == Phase::Skipped));
    assert!(r.finished());
}

#[test]
fn a_station_that_never_reports_about_this_update_fails_after_the_last_ask() {
    let mut s = StationUpdate::pending("A");
    s.sent(UpdateCall::UpdateFirmware2, Some(1), 0);
    s.answered(&json!({"status": "Accepted"}), 0);
    for n in 1..=super::progress::MAX_UNANSWERED_ASKS {
        assert!(s.triggered(i64::from(n) * 1000), "ask {n}");
    }
    // A report resets the count; here none came.
    assert!(!s.triggered(10_000));
    assert_eq!(s.phase, Phase::Failed);
    assert!(
        s.error
            .as_deref()
            .is_some_and(|e| e.contains("reported nothing"))
    );

    let mut r = StationUpdate::pending("B");
    r.sent(UpdateCall::UpdateFirmware2, Some(2), 0);
    r.answered(&json!({"status": "Accepted"}), 0);
    for n in 0..10 {
        assert!(r.triggered(n * 1000));
        r.observe(
            &report(
                "B",
                n + 1,
                n * 1000 + 1,
                "FirmwareStatusNotification",
                json!({"status": "Downloading", "requestId": 2}),
            ),
            None,
        );
    }
    assert_eq!(r.phase, Phase::Updating);
}

#[test]
fn concurrency_bounds_the_stations_updating_at_once_and_cancel_skips_the_rest() {
    let ids: Vec<String> = (0..5).map(|i| format!("S{i}")).collect();
    let mut p = policy(0);
    p.concurrency = 2;
    let mut r = Rollout::new("r".into(), ask(), p, ids, 0, 0);
    assert_eq!(r.stage, Stage::Rest);
    let a = r.step(0);
    assert_eq!(sends(&a), vec![0, 1]);
    send_all(&mut r, &a, 0);
    assert!(sends(&r.step(10)).is_empty());
    install(&mut r, 0, 1, 20);
    assert_eq!(sends(&r.step(20)), vec![2]);
    r.cancel("stopped by ops".into(), 30);
    assert_eq!(r.stage, Stage::Cancelled);
    // Station 2's send was named but not done before the cancel: it is skipped too.
    assert_eq!(r.stations[2].phase, Phase::Skipped);
    assert_eq!(
        r.stations[1].phase,
        Phase::Updating,
        "a station updating is followed"
    );
    assert!(r.step(40).iter().all(|a| matches!(a, Action::AskStatus(_))));
    install(&mut r, 1, 2, 50);
    r.step(50);
    assert_eq!(r.stage, Stage::Cancelled);
    assert!(r.finished());
}
