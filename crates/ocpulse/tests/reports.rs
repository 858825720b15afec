//! Reports and export against a real server and SQLite file: scripted stations of both
//! versions boot, report statuses (one Faulted), heartbeats and meter values; the fleet and
//! health reports count them exactly; meter rows carry their values, units and EVSEs; and
//! the journal exported as CSV and as JSON lines, parsed back, matches
//! `GET /api/v1/stations/{id}/messages` entry by entry.

mod common;

use std::time::Duration;

use common::{Server, Station, spawn_trigger, wait_connected};
use ocpulse_core::parse_rfc3339;
use serde_json::{Value, json};

/// GETs a download: status, content type, content disposition, body text.
async fn download(server: &Server, path: &str) -> (u16, String, String, String) {
    let r = reqwest::get(server.url(path)).await.expect("GET");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    let status = r.status().as_u16();
    (status, ct, cd, r.text().await.expect("body"))
}

/// Parses a CSV export with the `csv` crate: the header and every record as column → value.
fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<(String, String)>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, records)
}

fn field<'a>(record: &'a [(String, String)], name: &str) -> &'a str {
    record
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("column {name}"))
}

fn parse_jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// The station's journal as `messages` lists it, oldest first (the export's order).
async fn messages(server: &Server, station: &str, query: &str) -> Vec<Value> {
    let (code, body) = server
        .get(&format!(
            "/api/v1/stations/{station}/messages?limit=1000{query}"
        ))
        .await;
    assert_eq!(code, 200, "{body}");
    let mut all = body["items"].as_array().expect("array").clone();
    all.reverse();
    all
}

/// A CSV payload column read back the way `messages` shows a payload (JSON, or the raw text
/// of a malformed frame).
fn payload_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Asserts a CSV journal export equals the `messages` entries, entry by entry.
fn assert_csv_matches(csv_text: &str, station: &str, expected: &[Value]) {
    let (header, records) = parse_csv(csv_text);
    assert_eq!(
        header,
        [
            "seq",
            "at",
            "stationId",
            "direction",
            "type",
            "messageId",
            "action",
            "triggerId",
            "violation",
            "payload"
        ]
    );
    assert_eq!(records.len(), expected.len(), "same number of entries");
    for (r, m) in records.iter().zip(expected) {
        let text_or_empty = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        assert_eq!(field(r, "seq"), m["seq"].to_string());
        assert_eq!(field(r, "at"), m["at"].as_str().expect("at"));
        assert_eq!(field(r, "stationId"), station);
        assert_eq!(field(r, "direction"), m["direction"].as_str().expect("dir"));
        assert_eq!(field(r, "type"), m["type"].as_str().expect("type"));
        assert_eq!(field(r, "messageId"), text_or_empty(&m["messageId"]));
        assert_eq!(field(r, "action"), text_or_empty(&m["action"]));
        assert_eq!(field(r, "triggerId"), text_or_empty(&m["triggerId"]));
        assert_eq!(field(r, "violation"), text_or_empty(&m["violation"]));
        assert_eq!(
            payload_of(field(r, "payload")),
            m["payload"],
            "seq {}",
            m["seq"]
        );
    }
}

/// Asserts a JSON-lines journal export equals the `messages` entries (plus `stationId`).
fn assert_jsonl_matches(text: &str, station: &str, expected: &[Value]) {
    let lines = parse_jsonl(text);
    assert_eq!(lines.len(), expected.len(), "same number of entries");
    for (mut line, m) in lines.into_iter().zip(expected) {
        let obj = line.as_object_mut().expect("object");
        assert_eq!(obj.remove("stationId"), Some(json!(station)));
        assert_eq!(&line, m);
    }
}

fn meter16(connector: i64, tx: Option<i64>, samples: Value) -> Value {
    let mut p = json!({"connectorId": connector, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": samples}]});
    if let Some(tx) = tx {
        p["transactionId"] = json!(tx);
    }
    p
}

/// The fleet the tests look at: CP16 (1.6, connected, one Faulted connector, a transaction),
/// CS201 (2.0.1, connected, a transaction) and CPOFF (1.6, booted then gone).
struct Fleet {
    server: Server,
    cp16: Station,
    cs201: Station,
    /// A time between CP16's first and second MeterValues.
    mid: String,
}

async fn fleet() -> Fleet {
    let server = Server::start().await;
    let mut off = Station::connect(&server, "CPOFF", "ocpp1.6").await;
    off.boot16().await;
    drop(off);
    wait_connected(&server, "CPOFF", false).await;

    let mut cp16 = Station::connect(&server, "CP16", "ocpp1.6").await;
    let r = cp16.call("BootNotification", json!({"chargePointVendor": "Acme", "chargePointModel": "Fast-1", "firmwareVersion": "1.6.3"})).await;
    assert_eq!(r[2]["status"], "Accepted");
    cp16.status16(0, "Available").await;
    let r = cp16.call("StatusNotification", json!({"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted", "timestamp": "2025-01-01T12:00:00Z"})).await;
    assert_eq!(r[0], 3);
    cp16.status16(2, "Available").await;
    cp16.call("Heartbeat", json!({})).await;
    let r = cp16.call("StartTransaction", json!({"connectorId": 2, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2025-01-01T12:00:00Z"})).await;
    let tx = r[2]["transactionId"].as_i64().expect("transactionId");
    cp16.call(
        "MeterValues",
        meter16(
            2,
            Some(tx),
            json!([{"value": "1500"}, {"value": "16.5", "measurand": "Current.Import", "unit": "A", "phase": "L1"}]),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mid = ocpulse_core::rfc3339(ocpulse::now_ms());
    tokio::time::sleep(Duration::from_millis(30)).await;
    cp16.call(
        "MeterValues",
        meter16(2, Some(tx), json!([{"value": "1750.5"}])),
    )
    .await;
    // Unreadable text with a comma, quotes and a line break: the CSV must quote it.
    cp16.send_text("oops, \"not\"\njson").await;
    let err = cp16.recv().await;
    assert_eq!(err[0], 4);

    let mut cs201 = Station::connect(&server, "CS201", "ocpp2.0.1").await;
    let r = cs201.call("BootNotification", json!({"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "Fast-2", "firmwareVersion": "2.0.0"}})).await;
    assert_eq!(r[2]["status"], "Accepted");
    cs201.status201(1, 1, "Available").await;
    cs201.status201(2, 1, "Occupied").await;
    cs201.call("Heartbeat", json!({})).await;
    let r = cs201.call("MeterValues", json!({"evseId": 1, "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [
        {"value": 12.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 3}},
        {"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}}
    ]}]})).await;
    assert_eq!(r[0], 3, "{r}");
    let r = cs201.call("TransactionEvent", json!({"eventType": "Started", "timestamp": "2025-01-01T12:00:00Z", "triggerReason": "CablePluggedIn", "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-201", "chargingState": "EVConnected"}, "evse": {"id": 2, "connectorId": 1},
        "meterValue": [{"timestamp": "2025-01-01T12:00:00Z", "sampledValue": [{"value": 100, "context": "Transaction.Begin"}]}]})).await;
    assert_eq!(r[0], 3, "{r}");

    // One delivered trigger, so the health report has trigger counts and a latency.
    let http = spawn_trigger(&server, "CS201", json!({"requestedMessage": "Heartbeat"}));
    let (id, action, _) = cs201.next_call().await;
    assert_eq!(action, "TriggerMessage");
    cs201.reply(&id, json!({"status": "Accepted"})).await;
    cs201.call("Heartbeat", json!({})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["outcome"], "Completed", "{body}");
    // Fire-and-forget journal writes (events, answers to CSMS calls) linger up to 10 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Fleet {
        server,
        cp16,
        cs201,
        mid,
    }
}

#[tokio::test]
async fn fleet_report_counts_stations_connectors_and_transactions_exactly() {
    let f = fleet().await;
    let (code, body) = f.server.get("/api/v1/reports/fleet").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["stations"],
        json!({"total": 3, "connected": 2, "disconnected": 1})
    );
    assert_eq!(body["byProtocol"], json!({"ocpp1.6": 2, "ocpp2.0.1": 1}));
    assert_eq!(body["byVendor"], json!({"Acme": 3}));
    assert_eq!(body["byModel"], json!({"Fast-1": 2, "Fast-2": 1}));
    assert_eq!(
        body["byFirmware"],
        json!({"1.6.3": 1, "2.0.0": 1, "unknown": 1})
    );
    assert_eq!(body["byRegistration"], json!({"Accepted": 3}));
    assert_eq!(
        body["connectors"],
        json!({"total": 4, "byStatus": {"Available": 2, "Faulted": 1, "Occupied": 1}, "byErrorCode": {"GroundFailure": 1}})
    );
    assert_eq!(body["chargePointsByStatus"], json!({"Available": 1}));
    assert_eq!(body["openTransactions"], 2);
    drop((f.cp16, f.cs201));
}

#[tokio::test]
async fn health_reports_heartbeats_uptime_and_trigger_success() {
    let f = fleet().await;
    let (code, h) = f.server.get("/api/v1/stations/CS201/health").await;
    assert_eq!(code, 200, "{h}");
    assert_eq!(h["stationId"], "CS201");
    assert_eq!(h["connected"], true);
    assert_eq!(h["protocol"], "ocpp2.0.1");
    assert_eq!(h["registrationStatus"], "Accepted");
    let since =
        parse_rfc3339(h["connectedSince"].as_str().expect("connectedSince")).expect("rfc3339");
    let beat = parse_rfc3339(h["lastHeartbeat"].as_str().expect("lastHeartbeat")).expect("rfc3339");
    assert!(since <= beat, "{h}");
    assert!(h["uptimeSeconds"].as_i64().is_some_and(|s| s >= 0), "{h}");
    assert!(h["lastSeen"].is_string());
    let t = &h["triggers"];
    assert_eq!(
        (
            &t["total"],
            &t["accepted"],
            &t["delivered"],
            &t["successRate"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1.0)),
        "{t}"
    );
    assert!(t["meanLatencyMs"].as_f64().is_some(), "{t}");
    assert_eq!(t["byMessage"]["Heartbeat"]["total"], 1);
    assert_eq!(t["byMessage"]["Heartbeat"]["lastOutcome"], "Completed");
    assert_eq!(h["violations"], 0);

    let (code, off) = f.server.get("/api/v1/stations/CPOFF/health").await;
    assert_eq!(code, 200);
    assert_eq!(
        (
            &off["connected"],
            &off["connectedSince"],
            &off["uptimeSeconds"]
        ),
        (&json!(false), &Value::Null, &Value::Null),
        "{off}"
    );
    assert_eq!(off["triggers"]["total"], 0);
    assert_eq!(off["triggers"]["successRate"], Value::Null);
    assert_eq!(off["lastHeartbeat"], Value::Null);

    let (code, all) = f.server.get("/api/v1/reports/health").await;
    assert_eq!(code, 200);
    assert_eq!(all["next"], Value::Null, "{all}");
    let ids: Vec<_> = all["items"]
        .as_array()
        .expect("array")
        .iter()
        .map(|h| h["stationId"].clone())
        .collect();
    assert_eq!(ids, vec![json!("CP16"), json!("CPOFF"), json!("CS201")]);
    let (_, page1) = f.server.get("/api/v1/reports/health?limit=2").await;
    let (_, page2) = f
        .server
        .get("/api/v1/reports/health?limit=2&after=CPOFF")
        .await;
    assert_eq!(page1["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page1["next"], "CPOFF", "the last id of the page: {page1}");
    assert_eq!(page2["items"][0]["stationId"], "CS201");
    assert_eq!(page2["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page2["next"], Value::Null, "the last page: {page2}");
    drop((f.cp16, f.cs201));
}

#[tokio::test]
async fn meter_rows_carry_values_units_and_evses_of_both_versions() {
    let f = fleet().await;
    let (code, rows) = f.server.get("/api/v1/stations/CP16/meter-values").await;
    let rows = rows["items"].clone();
    assert_eq!(code, 200, "{rows}");
    let brief = |rows: &Value| -> Vec<Value> {
        rows.as_array()
            .expect("array")
            .iter()
            .map(|r| {
                json!([
                    r["action"],
                    r["evseId"],
                    r["connectorId"],
                    r["transactionId"],
                    r["measurand"],
                    r["phase"],
                    r["unit"],
                    r["value"]
                ])
            })
            .collect()
    };
    let (_, st) = f.server.get("/api/v1/stations/CP16").await;
    let tx = st["transactions"][0]["transactionId"].clone();
    assert_eq!(
        brief(&rows),
        vec![
            json!([
                "MeterValues",
                null,
                2,
                tx,
                "Energy.Active.Import.Register",
                null,
                "Wh",
                1500.0
            ]),
            json!([
                "MeterValues",
                null,
                2,
                tx,
                "Current.Import",
                "L1",
                "A",
                16.5
            ]),
            json!([
                "MeterValues",
                null,
                2,
                tx,
                "Energy.Active.Import.Register",
                null,
                "Wh",
                1750.5
            ]),
        ]
    );
    assert_eq!(rows[0]["timestamp"], "2025-01-01T12:00:00Z");
    assert_eq!(rows[0]["context"], "Sample.Periodic");
    assert_eq!(rows[0]["stationId"], "CP16");

    let (_, rows) = f.server.get("/api/v1/stations/CS201/meter-values").await;
    let rows = rows["items"].clone();
    assert_eq!(
        brief(&rows),
        vec![
            json!([
                "MeterValues",
                1,
                null,
                null,
                "Energy.Active.Import.Register",
                null,
                "kWh",
                12.5
            ]),
            json!(["MeterValues", 1, null, null, "Voltage", "L1-N", "V", 230.1]),
            json!([
                "TransactionEvent",
                2,
                1,
                "TX-201",
                "Energy.Active.Import.Register",
                null,
                "Wh",
                100.0
            ]),
        ]
    );
    assert_eq!(rows[0]["multiplier"], 3);
    assert_eq!(rows[2]["context"], "Transaction.Begin");

    let (_, evse2) = f
        .server
        .get("/api/v1/stations/CS201/meter-values?evse=2")
        .await;
    let evse2 = evse2["items"].clone();
    assert_eq!(brief(&evse2), brief(&json!([rows[2]])));
    let (_, volts) = f
        .server
        .get("/api/v1/stations/CS201/meter-values?measurand=Voltage")
        .await;
    let volts = volts["items"].clone();
    assert_eq!(brief(&volts), brief(&json!([rows[1]])));

    // Time range: the first MeterValues came before `mid`, the second after.
    let (_, before) = f
        .server
        .get(&format!("/api/v1/stations/CP16/meter-values?to={}", f.mid))
        .await;
    let before = before["items"].clone();
    let (_, after) = f
        .server
        .get(&format!(
            "/api/v1/stations/CP16/meter-values?from={}",
            f.mid
        ))
        .await;
    let after = after["items"].clone();
    assert_eq!(before.as_array().map(Vec::len), Some(2));
    assert_eq!(after.as_array().map(Vec::len), Some(1));
    assert_eq!(after[0]["value"], 1750.5);

    // Paging never splits one message's rows.
    let (_, page1) = f
        .server
        .get("/api/v1/stations/CP16/meter-values?limit=1")
        .await;
    let next = page1["next"].as_str().expect("more rows remain").to_owned();
    let page1 = page1["items"].clone();
    assert_eq!(
        page1.as_array().map(Vec::len),
        Some(2),
        "one message, whole"
    );
    assert_eq!(
        next,
        page1[1]["seq"].to_string(),
        "next is the last row's seq"
    );
    let (_, page2) = f
        .server
        .get(&format!(
            "/api/v1/stations/CP16/meter-values?limit=1&after={next}"
        ))
        .await;
    assert_eq!(page2["next"], Value::Null, "the last page: {page2}");
    let page2 = page2["items"].clone();
    assert_eq!(page2[0]["value"], 1750.5);

    // The meter export holds the same rows.
    let (code, ct, _, text) = download(
        &f.server,
        "/api/v1/export/meter-values?station=CS201&format=csv",
    )
    .await;
    assert_eq!((code, ct.as_str()), (200, "text/csv; charset=utf-8"));
    let (_, records) = parse_csv(&text);
    assert_eq!(records.len(), 3);
    for (r, j) in records.iter().zip(rows.as_array().expect("rows")) {
        assert_eq!(field(r, "seq"), j["seq"].to_string());
        assert_eq!(field(r, "measurand"), j["measurand"].as_str().expect("m"));
        assert_eq!(
            field(r, "value").parse::<f64>().expect("number"),
            j["value"].as_f64().expect("value")
        );
        assert_eq!(field(r, "unit"), j["unit"].as_str().expect("unit"));
    }
    let (code, ct, _, text) = download(
        &f.server,
        "/api/v1/export/meter-values?station=CS201&evse=1&format=jsonl",
    )
    .await;
    assert_eq!((code, ct.as_str()), (200, "application/x-ndjson"));
    assert_eq!(
        parse_jsonl(&text),
        rows.as_array().expect("rows")[..2].to_vec()
    );
    drop((f.cp16, f.cs201));
}

#[tokio::test]
async fn journal_exports_parsed_back_match_the_journal_entry_by_entry() {
    let f = fleet().await;
    for station in ["CP16", "CS201", "CPOFF"] {
        let expected = messages(&f.server, station, "").await;
        assert!(expected.len() > 2, "{station} has a journal");
        let (code, ct, cd, text) = download(
            &f.server,
            &format!("/api/v1/export/journal?station={station}&format=csv"),
        )
        .await;
        assert_eq!(code, 200, "{text}");
        assert_eq!(ct, "text/csv; charset=utf-8");
        assert_eq!(
            cd,
            format!("attachment; filename=\"ocpulse-journal-{station}.csv\"")
        );
        assert_csv_matches(&text, station, &expected);

        let (code, ct, cd, text) = download(
            &f.server,
            &format!("/api/v1/export/journal?station={station}&format=jsonl"),
        )
        .await;
        assert_eq!(code, 200, "{text}");
        assert_eq!(ct, "application/x-ndjson");
        assert_eq!(
            cd,
            format!("attachment; filename=\"ocpulse-journal-{station}.jsonl\"")
        );
        assert_jsonl_matches(&text, station, &expected);
    }
    // The malformed frame's raw text (comma, quotes, line break) survived CSV quoting.
    let cp16 = messages(&f.server, "CP16", "").await;
    assert!(
        cp16.iter()
            .any(|m| m["type"] == "MALFORMED" && m["payload"] == "oops, \"not\"\njson"),
        "the malformed frame is in the journal"
    );

    // Every station: each entry once, in seq order, each matching its station's journal.
    let (_, _, cd, text) = download(&f.server, "/api/v1/export/journal?format=jsonl").await;
    assert_eq!(cd, "attachment; filename=\"ocpulse-journal-all.jsonl\"");
    let all = parse_jsonl(&text);
    let seqs: Vec<i64> = all
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ascending seq");
    let mut total = 0;
    for station in ["CP16", "CS201", "CPOFF"] {
        let mine: Vec<Value> = all
            .iter()
            .filter(|e| e["stationId"] == station)
            .cloned()
            .collect();
        let text: String = mine.iter().map(|e| format!("{e}\n")).collect();
        assert_jsonl_matches(&text, station, &messages(&f.server, station, "").await);
        total += mine.len();
    }
    assert_eq!(total, all.len());
    drop((f.cp16, f.cs201));
}

#[tokio::test]
async fn journal_export_filters_by_action_and_time_range() {
    let f = fleet().await;
    let beats = messages(&f.server, "CS201", "&action=Heartbeat").await;
    assert_eq!(beats.len(), 4, "two Heartbeat CALLs and their CALLRESULTs");
    let (_, _, _, text) = download(
        &f.server,
        "/api/v1/export/journal?station=CS201&action=Heartbeat&format=csv",
    )
    .await;
    assert_csv_matches(&text, "CS201", &beats);

    let (_, _, _, text) = download(
        &f.server,
        "/api/v1/export/journal?action=Heartbeat,StatusNotification&format=jsonl",
    )
    .await;
    let lines = parse_jsonl(&text);
    let n = |station: &str, action: &str| {
        lines
            .iter()
            .filter(|l| l["stationId"] == station && l["action"] == action)
            .count()
    };
    assert!(
        lines
            .iter()
            .all(|l| l["action"] == "Heartbeat" || l["action"] == "StatusNotification")
    );
    assert_eq!(
        (n("CP16", "Heartbeat"), n("CP16", "StatusNotification")),
        (2, 6)
    );
    assert_eq!(
        (n("CS201", "Heartbeat"), n("CS201", "StatusNotification")),
        (4, 4)
    );

    let mid = parse_rfc3339(&f.mid).expect("mid");
    let at = |m: &Value| parse_rfc3339(m["at"].as_str().expect("at")).expect("at");
    let all = messages(&f.server, "CP16", "").await;
    let (early, late): (Vec<Value>, Vec<Value>) = all.into_iter().partition(|m| at(m) < mid);
    assert!(!early.is_empty() && !late.is_empty());
    let (_, _, _, text) = download(
        &f.server,
        &format!(
            "/api/v1/export/journal?station=CP16&to={}&format=jsonl",
            f.mid
        ),
    )
    .await;
    assert_jsonl_matches(&text, "CP16", &early);
    let (_, _, _, text) = download(
        &f.server,
        &format!(
            "/api/v1/export/journal?station=CP16&from={}&format=csv",
            f.mid
        ),
    )
    .await;
    assert_csv_matches(&text, "CP16", &late);
    let (_, _, _, text) = download(
        &f.server,
        &format!(
            "/api/v1/export/journal?station=CP16&from={0}&to={0}&format=jsonl",
            f.mid
        ),
    )
    .await;
    assert_eq!(text, "", "an empty range exports nothing");
    drop((f.cp16, f.cs201));
}

#[tokio::test]
async fn bad_report_and_export_requests_say_what_was_wrong() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CP1", "ocpp1.6").await;
    st.boot16().await;
    let cases: [(&str, u16, &str, &str); 16] = [
        (
            "/api/v1/export/journal?format=xml",
            400,
            "invalid_format",
            "csv or jsonl",
        ),
        (
            "/api/v1/export/journal?from=yesterday",
            400,
            "invalid_time",
            "RFC 3339",
        ),
        (
            "/api/v1/export/journal?to=2025-13-01T00:00:00Z",
            400,
            "invalid_time",
            "to must be",
        ),
        (
            "/api/v1/export/journal?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z",
            400,
            "invalid_range",
            "from must not be after to",
        ),
        (
            "/api/v1/export/journal?statoin=CP1",
            400,
            "invalid_query",
            "station, action, from, to and format",
        ),
        (
            "/api/v1/export/journal?station=NOPE",
            404,
            "station_not_found",
            "NOPE",
        ),
        (
            "/api/v1/export/meter-values?evse=-1",
            400,
            "invalid_evse",
            "0 or more",
        ),
        (
            "/api/v1/export/meter-values?station=NOPE",
            404,
            "station_not_found",
            "NOPE",
        ),
        (
            "/api/v1/export/meter-values?action=Heartbeat",
            400,
            "invalid_query",
            "unknown query parameter \"action\"",
        ),
        (
            "/api/v1/stations/CP1/meter-values?limit=0",
            400,
            "invalid_limit",
            "1 to 1000",
        ),
        (
            "/api/v1/stations/CP1/meter-values?after=last",
            400,
            "invalid_after",
            "seq",
        ),
        (
            "/api/v1/stations/CP1/meter-values?from=2025-01-01",
            400,
            "invalid_time",
            "RFC 3339",
        ),
        (
            "/api/v1/stations/NOPE/meter-values",
            404,
            "station_not_found",
            "NOPE",
        ),
        (
            "/api/v1/stations/NOPE/health",
            404,
            "station_not_found",
            "NOPE",
        ),
        (
            "/api/v1/reports/health?limit=5000",
            400,
            "invalid_limit",
            "1 to 1000",
        ),
        (
            "/api/v1/reports/fleet?station=CP1",
            400,
            "invalid_query",
            "takes no query parameters",
        ),
    ];
    for (path, status, code, hint) in cases {
        let (got, body) = server.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"], code, "{path}: {body}");
        let message = body["message"].as_str().expect("message");
        assert!(message.contains(hint), "{path}: {message}");
    }
    drop(st);
}

#[tokio::test]
async fn exports_larger_than_one_store_page_are_complete_and_in_order() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "CPBIG", "ocpp1.6").await;
    st.boot16().await;
    for i in 0..300 {
        st.call(
            "MeterValues",
            meter16(1, None, json!([{"value": format!("{i}")}])),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let expected = messages(&server, "CPBIG", "").await;
    assert!(expected.len() > 600, "more than one 500-entry page");
    let (_, _, _, text) =
        download(&server, "/api/v1/export/journal?station=CPBIG&format=csv").await;
    assert_csv_matches(&text, "CPBIG", &expected);
    let (_, _, _, text) = download(&server, "/api/v1/export/journal?format=jsonl").await;
    assert_jsonl_matches(&text, "CPBIG", &expected);
    let (_, _, _, text) = download(
        &server,
        "/api/v1/export/meter-values?station=CPBIG&format=jsonl",
    )
    .await;
    let values: Vec<f64> = parse_jsonl(&text)
        .iter()
        .map(|r| r["value"].as_f64().expect("value"))
        .collect();
    assert_eq!(values, (0..300).map(f64::from).collect::<Vec<_>>());
    drop(st);
}
