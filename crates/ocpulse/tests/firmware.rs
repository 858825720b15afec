//! Firmware rollouts end to end: a real server, simulated stations of both versions that
//! download, reboot into the new version and report (or fail, refuse, or go quiet), and
//! rollouts staged over them: canary first, a wait, the rest; halted on failures; a quiet
//! station asked with a trigger; a rollout that survives a server restart.

mod common;

use std::time::Duration;

use common::{Server, sim};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::StationConfig;
use serde_json::{Value, json};

async fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    server.post(path, &body.to_string()).await
}

fn station(id: &str, version: ProtocolVersion, fault: Option<&str>) -> StationConfig {
    let mut cfg = StationConfig::new(id, version);
    if let Some(f) = fault {
        cfg.faults.add_flag(f).expect("a fault flag");
    }
    cfg
}

/// Starts each simulated station and waits until it is registered.
async fn stations(
    server: &Server,
    cfgs: Vec<StationConfig>,
) -> Vec<tokio_util::sync::CancellationToken> {
    let mut stops = Vec::new();
    for cfg in cfgs {
        let id = cfg.id.clone();
        let (stop, _task) = sim::spawn(server, cfg);
        sim::wait_for(server, &id, |s| s["registrationStatus"] == "Accepted").await;
        stops.push(stop);
    }
    stops
}

/// The rollout once it has finished (bounded: 60 s).
async fn finished(server: &Server, id: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        let (code, body) = server.get(&format!("/api/v1/firmware/rollouts/{id}")).await;
        assert_eq!(code, 200, "{body}");
        if body["finished"] == true {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("rollout {id} never finished; last {last}");
}

fn of<'a>(rollout: &'a Value, id: &str) -> &'a Value {
    rollout["stations"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stationId"] == id))
        .unwrap_or_else(|| panic!("{id} not in {rollout}"))
}

fn statuses(s: &Value) -> Vec<String> {
    s["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["status"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_staged_rollout_updates_both_versions_canary_first_then_the_rest() {
    let server = Server::start().await;
    let _stops = stations(
        &server,
        vec![
            station("FW16A", ProtocolVersion::V16, None),
            station("FW201A", ProtocolVersion::V201, None),
            station("FW16B", ProtocolVersion::V16, None),
            station("FW201B", ProtocolVersion::V201, None),
        ],
    )
    .await;
    let (code, started) = post(
        &server,
        "/api/v1/firmware/rollouts",
        json!({"location": "http://127.0.0.1:9/images/acme-200.bin", "firmwareVersion": "acme-200",
               "selector": {"stationIds": ["FW16A", "FW201A", "FW16B", "FW201B"]},
               "canaryPercent": 50, "canaryWaitSecs": 1, "maxFailurePercent": 0}),
    )
    .await;
    assert_eq!(code, 201, "{started}");
    assert_eq!(started["canary"], 2);
    assert_eq!(started["stage"], "canary");
    let id = started["id"].as_str().expect("id").to_owned();
    let done = finished(&server, &id).await;
    assert_eq!(done["stage"], "completed", "{done}");
    assert_eq!(done["counts"], json!({"installed": 4}), "{done}");
    let canary_ended = done["canaryEndedAt"]
        .as_str()
        .expect("canaryEndedAt")
        .to_owned();
    for (sid, canary, action) in [
        ("FW16A", true, "UpdateFirmware"),
        ("FW201A", true, "UpdateFirmware"),
        ("FW16B", false, "UpdateFirmware"),
        ("FW201B", false, "UpdateFirmware"),
    ] {
        let s = of(&done, sid);
        assert_eq!(s["canary"], canary, "{s}");
        assert_eq!(s["action"], action, "{s}");
        let seen = statuses(s);
        assert!(seen.contains(&"Downloading".to_owned()), "{s}");
        assert!(seen.contains(&"Booted acme-200".to_owned()), "{s}");
        assert_eq!(s["phase"], "installed", "{s}");
        // RFC 3339 in UTC sorts by time.
        if canary {
            assert!(
                s["endedAt"].as_str().expect("endedAt") <= canary_ended.as_str(),
                "{s}"
            );
        } else {
            assert!(
                s["sentAt"].as_str().expect("sentAt") > canary_ended.as_str(),
                "the rest waits for the canary: {s}"
            );
        }
        let (_, view) = server.get(&format!("/api/v1/stations/{sid}")).await;
        assert_eq!(view["boot"]["firmwareVersion"], "acme-200", "{view}");
        // Each UpdateFirmware is a call record on the rollout's behalf.
        let (_, calls) = server.get(&format!("/api/v1/calls?station={sid}")).await;
        let call = calls["items"]
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|c| c["requestedBy"] == format!("firmware:{id}"))
            })
            .unwrap_or_else(|| panic!("no call record for {sid}: {calls}"));
        assert_eq!(call["outcome"], "Completed", "{call}");
    }
    // 2.0.1 reports carry the requestId sent; 1.6 core ones have none.
    assert!(of(&done, "FW201A")["requestId"].is_i64());
    assert!(of(&done, "FW16A")["requestId"].is_null());
    let (code, list) = server.get("/api/v1/firmware/rollouts").await;
    assert_eq!(code, 200);
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert!(
        list["items"][0].get("stations").is_none(),
        "lists leave stations out"
    );
}

#[tokio::test]
async fn failures_above_the_limit_halt_it_and_the_rest_is_never_sent() {
    let server = Server::start().await;
    let _stops = stations(
        &server,
        vec![
            station("BAD1", ProtocolVersion::V16, Some("UpdateFirmware=fail")),
            station("OK1", ProtocolVersion::V16, None),
            station("OK2", ProtocolVersion::V16, None),
            station("OK3", ProtocolVersion::V16, None),
        ],
    )
    .await;
    let (code, started) = post(
        &server,
        "/api/v1/firmware/rollouts",
        json!({"location": "https://127.0.0.1/fw/acme-300.bin",
               "selector": {"stationIds": ["BAD1", "OK1", "OK2", "OK3"]},
               "canaryPercent": 25, "canaryWaitSecs": 0, "maxFailurePercent": 20}),
    )
    .await;
    assert_eq!(code, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_owned();
    let done = finished(&server, &id).await;
    assert_eq!(done["stage"], "halted", "{done}");
    assert!(
        done["reason"]
            .as_str()
            .is_some_and(|r| r.contains("1 of 1")),
        "{done}"
    );
    let bad = of(&done, "BAD1");
    assert_eq!(bad["phase"], "failed");
    assert!(
        bad["error"]
            .as_str()
            .is_some_and(|e| e.contains("DownloadFailed")),
        "{bad}"
    );
    for sid in ["OK1", "OK2", "OK3"] {
        assert_eq!(of(&done, sid)["phase"], "skipped", "{done}");
        let (_, calls) = server.get(&format!("/api/v1/calls?station={sid}")).await;
        assert_eq!(
            calls["items"],
            json!([]),
            "nothing was sent to {sid}: {calls}"
        );
    }
    let (code, err) = post(
        &server,
        &format!("/api/v1/firmware/rollouts/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(code, 409, "{err}");
    assert_eq!(err["error"], "rollout_stopped");
}

#[tokio::test]
async fn a_quiet_station_is_asked_for_its_status_and_its_new_version_proves_the_install() {
    let server = Server::start().await;
    let _stops = stations(
        &server,
        vec![station(
            "QUIET",
            ProtocolVersion::V201,
            Some("UpdateFirmware=quiet"),
        )],
    )
    .await;
    let (code, started) = post(
        &server,
        "/api/v1/firmware/rollouts",
        json!({"location": "https://127.0.0.1/fw/acme-400.bin", "firmwareVersion": "acme-400",
               "selector": {"stationIds": ["QUIET"]}, "canaryPercent": 0, "quietAfterSecs": 1}),
    )
    .await;
    assert_eq!(code, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_owned();
    let done = finished(&server, &id).await;
    assert_eq!(done["stage"], "completed", "{done}");
    let s = of(&done, "QUIET");
    assert_eq!(s["phase"], "installed", "{s}");
    assert!(s["triggers"].as_u64().is_some_and(|t| t >= 1), "{s}");
    let seen = statuses(s);
    // What the station said only because it was asked, then the boot into the new image.
    assert!(
        seen.iter().any(|st| [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "InstallRebooting"
        ]
        .contains(&st.as_str())),
        "{s}"
    );
    assert!(seen.contains(&"Booted acme-400".to_owned()), "{s}");
    let (_, triggers) = server.get("/api/v1/triggers?station=QUIET").await;
    let asked = triggers["items"]
        .as_array()
        .and_then(|t| {
            t.iter()
                .find(|t| t["requestedBy"] == format!("firmware:{id}"))
        })
        .unwrap_or_else(|| panic!("no trigger on the rollout's behalf: {triggers}"));
    assert_eq!(asked["outcome"], "Completed", "{asked}");
}

#[tokio::test]
async fn a_refusing_station_fails_and_bad_requests_are_refused_with_what_would_be_right() {
    let server = Server::start().await;
    let _stops = stations(
        &server,
        vec![station(
            "REJ",
            ProtocolVersion::V201,
            Some("UpdateFirmware=reject"),
        )],
    )
    .await;
    let (code, started) = post(
        &server,
        "/api/v1/firmware/rollouts",
        json!({"location": "https://127.0.0.1/fw/acme-500.bin", "selector": {"stationIds": ["REJ"]},
               "canaryPercent": 0, "maxFailurePercent": 100}),
    )
    .await;
    assert_eq!(code, 201, "{started}");
    let done = finished(&server, started["id"].as_str().expect("id")).await;
    assert_eq!(done["stage"], "completed", "{done}");
    let s = of(&done, "REJ");
    assert_eq!(s["phase"], "failed");
    assert_eq!(s["answer"], "Rejected", "{s}");

    let ok = json!({"location": "https://127.0.0.1/fw/a.bin", "selector": {"stationIds": ["REJ"]}});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let mut no_location = ok.clone();
    no_location
        .as_object_mut()
        .expect("object")
        .remove("location");
    for (body, error, hint) in [
        (no_location, "missing_field", "location"),
        (
            with("location", json!("firmware.bin")),
            "invalid_firmware",
            "https://",
        ),
        (
            with("signature", json!("c2ln")),
            "invalid_firmware",
            "signingCertificate",
        ),
        (
            with("canaryPercent", json!(101)),
            "invalid_policy",
            "canaryPercent",
        ),
        (
            with("quietAfterSecs", json!(7200)),
            "invalid_policy",
            "quietAfterSecs",
        ),
        (
            with("selector", json!({"stationIds": ["NOPE"]})),
            "station_not_found",
            "NOPE",
        ),
        (
            with("selector", json!({"vendor": "Nobody"})),
            "no_stations",
            "picks no station",
        ),
        (
            with("retrieveAt", json!("tomorrow")),
            "invalid_payload",
            "retrieveDateTime",
        ),
    ] {
        let (code, err) = post(&server, "/api/v1/firmware/rollouts", body.clone()).await;
        assert_eq!(code, 400, "{body} → {err}");
        assert_eq!(err["error"], error, "{body} → {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(hint)),
            "{body} → {err}"
        );
    }
    let (code, err) = server.get("/api/v1/firmware/rollouts/nope").await;
    assert_eq!(code, 404, "{err}");
    assert_eq!(err["error"], "rollout_not_found");
}

#[tokio::test]
async fn a_rollout_goes_on_after_a_server_restart() {
    let server = Server::start().await;
    let _stops = stations(
        &server,
        vec![
            station("RS1", ProtocolVersion::V16, None),
            station("RS2", ProtocolVersion::V201, None),
        ],
    )
    .await;
    let (code, started) = post(
        &server,
        "/api/v1/firmware/rollouts",
        json!({"location": "https://127.0.0.1/fw/acme-600.bin", "firmwareVersion": "acme-600",
               "selector": {"stationIds": ["RS1", "RS2"]}, "canaryPercent": 50, "canaryWaitSecs": 0}),
    )
    .await;
    assert_eq!(code, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_owned();
    // Mid-canary: RS1 is downloading.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let server = server.restart(|_| {}).await;
    let done = finished(&server, &id).await;
    assert_eq!(done["stage"], "completed", "{done}");
    assert_eq!(done["counts"], json!({"installed": 2}), "{done}");
}
