//! Issue 17's correlation cases, end to end: the `ocpulse` binary (`ocpulse serve`) and
//! simulated stations (`ocpulse-sim`, the code behind `ocpulse sim`) over real WebSockets,
//! each case in both marking modes: stations that mark triggered messages as the spec says
//! (`sampledValue.context` / `triggerReason` = `Trigger`) and stations that do not
//! (`ocpulse sim --unmarked-triggers`). Every wait is bounded.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station, StationConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The timeoutMs every trigger is given: a trigger that ends well before it was not
/// waiting for its deadline.
const TRIGGER_TIMEOUT_MS: u64 = 10_000;
/// "Promptly": far below the trigger's timeout, with room for a loaded CI machine (the
/// server's quiet period for a station whose marking habit is unknown is 750 ms).
const PROMPT: Duration = Duration::from_secs(3);

/// `ocpulse serve` as a child process on a free loopback port, killed when dropped.
struct Serve {
    child: Child,
    addr: SocketAddr,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Serve {
    async fn start() -> Self {
        ocpulse::install_tls_provider();
        let data = tempfile::tempdir().expect("tempdir");
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = Command::new(env!("CARGO_BIN_EXE_ocpulse"))
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(data.path())
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ocpulse serve");
        let mut server = Self {
            child,
            addr,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_millis(TRIGGER_TIMEOUT_MS) * 2)
                .build()
                .expect("http client"),
            _data: data,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if server.get("/api/v1/health").await.0 == 200 {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("ocpulse serve exited at start-up ({status}); its stderr is above");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("ocpulse serve did not answer within 30 s");
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        match self
            .http
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
        {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .json(body)
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Triggers and measures how long the API call took.
    async fn trigger(&self, station: &str, mut body: Value) -> Triggered {
        if body.get("timeoutMs").is_none() {
            body["timeoutMs"] = json!(TRIGGER_TIMEOUT_MS);
        }
        let journal_before = self.newest_seq(station).await;
        let started = Instant::now();
        let (code, answer) = self
            .post(&format!("/api/v1/stations/{station}/trigger"), &body)
            .await;
        let took = started.elapsed();
        let id = answer["triggerId"].as_str().unwrap_or_default().to_owned();
        let (record_code, record) = self.get(&format!("/api/v1/triggers/{id}")).await;
        assert_eq!(record_code, 200, "trigger record of {body}: {record}");
        Triggered {
            code,
            answer,
            record,
            took,
            journal_before,
        }
    }

    /// A station's state as the CSMS knows it.
    async fn station(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/stations/{id}")).await.1
    }

    /// Waits (bounded) until the station's state satisfies `ready`.
    async fn wait_for(&self, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            let s = self.station(id).await;
            if ready(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{id}: {what} not within 15 s: {}", self.station(id).await);
    }

    /// The station's journal entries of `action`, newest first.
    async fn journal(&self, station: &str, action: &str) -> Vec<Value> {
        let (_, body) = self
            .get(&format!(
                "/api/v1/stations/{station}/messages?action={action}&limit=500"
            ))
            .await;
        items(&body)
    }

    async fn newest_seq(&self, station: &str) -> i64 {
        let (_, body) = self
            .get(&format!("/api/v1/stations/{station}/messages?limit=1"))
            .await;
        items(&body)
            .first()
            .and_then(|e| e["seq"].as_i64())
            .unwrap_or(0)
    }

    /// The station CALLs of `action` journaled since `triggered` started, oldest first.
    async fn calls_since(&self, station: &str, action: &str, triggered: &Triggered) -> Vec<Value> {
        let mut calls: Vec<Value> = self
            .journal(station, action)
            .await
            .into_iter()
            .filter(|e| {
                e["direction"] == "in"
                    && e["type"] == "CALL"
                    && e["seq"].as_i64() > Some(triggered.journal_before)
            })
            .collect();
        calls.reverse();
        calls
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A list body, in either shape the API has used (`[...]` or `{"items": [...]}`).
fn items(body: &Value) -> Vec<Value> {
    body.as_array()
        .or_else(|| body["items"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// One trigger's HTTP answer, its stored record, how long it took and where the station's
/// journal stood when it began.
struct Triggered {
    code: u16,
    answer: Value,
    record: Value,
    took: Duration,
    journal_before: i64,
}

impl Triggered {
    fn messages(&self) -> Vec<Value> {
        items(&self.answer["messages"])
    }

    /// Why each returned message was taken, from the answer, checked against the record.
    fn matched_by(&self) -> Vec<String> {
        let from_answer: Vec<String> = self
            .messages()
            .iter()
            .map(|m| m["matchedBy"].as_str().unwrap_or("missing").to_owned())
            .collect();
        let from_record: Vec<String> = items(&self.record["messages"])
            .iter()
            .map(|m| m["matchedBy"].as_str().unwrap_or("missing").to_owned())
            .collect();
        assert_eq!(
            from_answer, from_record,
            "answer and record disagree: {self}"
        );
        from_answer
    }
}

impl std::fmt::Display for Triggered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} after {:?}: {}",
            self.code, self.took, self.answer
        )
    }
}

/// The two kinds of station the issue asks to keep tests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marking {
    /// Triggered messages carry `Trigger` (the spec).
    Marks,
    /// They look like routine traffic (`--unmarked-triggers`).
    Unmarked,
}

const BOTH: [Marking; 2] = [Marking::Marks, Marking::Unmarked];

impl Marking {
    fn tag(self) -> &'static str {
        match self {
            Self::Marks => "M",
            Self::Unmarked => "U",
        }
    }

    /// What the record must say about a triggered message matched by its target or
    /// transaction: `marker` for a station that marks, `other` for one that does not.
    fn reason(self, other: &str) -> String {
        match self {
            Self::Marks => "marker".into(),
            Self::Unmarked => other.into(),
        }
    }
}

/// A simulated station running against the server until dropped.
struct Sim {
    stop: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A station `{name}{M|U}` with `evses` EVSEs (1.6: as many connectors, plus 0) marking
/// triggered messages or not; returns its id with it.
fn config(
    name: &str,
    protocol: ProtocolVersion,
    evses: u32,
    marking: Marking,
) -> (String, StationConfig) {
    let id = format!("{name}{}", marking.tag());
    let mut cfg = StationConfig::new(id.clone(), protocol);
    cfg.evses = evses;
    cfg.mark_triggered = marking == Marking::Marks;
    (id, cfg)
}

/// Charging on every EVSE within moments of booting, with routine meter traffic every
/// `interval` (MeterValues in 1.6, TransactionEvent Updated in 2.0.1).
fn charging(cfg: &mut StationConfig, session: Duration, interval: Duration) {
    cfg.auto_transactions = true;
    cfg.idle_time = Duration::from_millis(20);
    cfg.session_time = session;
    cfg.meter_interval = interval;
}

fn spawn(server: &Serve, cfg: StationConfig) -> Sim {
    let stop = CancellationToken::new();
    let opts = Arc::new(RunOptions {
        url: format!("ws://{}/ocpp", server.addr),
        reconnect_min: Duration::from_millis(50),
        ..RunOptions::default()
    });
    tokio::spawn(run_station(
        Station::new(cfg, None),
        opts,
        Arc::default(),
        stop.clone(),
        false,
    ));
    Sim { stop }
}

fn transaction_ids(station: &Value) -> BTreeSet<String> {
    items(&station["transactions"])
        .iter()
        .filter_map(|t| t["transactionId"].as_str().map(str::to_owned))
        .collect()
}

/// Accepted, and the boot's status notification of every connector (0, 1 and 2 of a
/// two-EVSE 1.6 station; the EVSEs' connectors in 2.0.1) is in: none of them can arrive
/// during a trigger's wait afterwards.
fn booted(s: &Value) -> bool {
    let connectors = items(&s["connectors"]).len();
    s["registrationStatus"] == "Accepted"
        && (connectors == 3 || (s["protocol"] == "ocpp2.0.1" && connectors == 2))
}

/// SAP simulator case: a 2.0.1 TransactionEvent trigger without EVSE while transactions
/// run and periodic `Updated` events flow. It must end as soon as every known transaction
/// answered, with exactly one `Updated` per running transaction: no periodic repeats, no
/// `Ended`, no `Started` of a new transaction, and not after its timeout as `Partial`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untargeted_v201_transaction_event_returns_each_running_transaction_promptly() {
    let server = Serve::start().await;
    for marking in BOTH {
        let (id, mut cfg) = config("TX201", ProtocolVersion::V201, 3, marking);
        charging(
            &mut cfg,
            Duration::from_secs(120),
            Duration::from_millis(150),
        );
        let _sim = spawn(&server, cfg);
        let state = server
            .wait_for(&id, "three running transactions", |s| {
                transaction_ids(s).len() == 3
            })
            .await;
        let running = transaction_ids(&state);
        // Twice: first while the station's marking habit is unknown, then once learned.
        for round in 0..2 {
            let t = server
                .trigger(&id, json!({"requestedMessage": "TransactionEvent"}))
                .await;
            assert_eq!(t.code, 200, "{marking:?} round {round}: {t}");
            assert_eq!(t.answer["status"], "Accepted", "{t}");
            assert_eq!(t.answer["outcome"], "Completed", "{marking:?}: {t}");
            assert_eq!(t.answer["complete"], true, "{t}");
            assert!(t.took < PROMPT, "{marking:?} round {round}: {t}");
            let messages = t.messages();
            let answered: BTreeSet<String> = messages
                .iter()
                .filter_map(|m| m["payload"]["transactionInfo"]["transactionId"].as_str())
                .map(str::to_owned)
                .collect();
            assert_eq!(messages.len(), running.len(), "one per transaction: {t}");
            assert_eq!(answered, running, "exactly the running transactions: {t}");
            for m in &messages {
                assert_eq!(m["action"], "TransactionEvent", "{t}");
                assert_eq!(m["payload"]["eventType"], "Updated", "{t}");
                if marking == Marking::Marks {
                    assert_eq!(m["payload"]["triggerReason"], "Trigger", "{t}");
                }
            }
            let want = vec![marking.reason("transaction"); running.len()];
            assert_eq!(t.matched_by(), want, "{marking:?}: {t}");
        }
    }
}

/// With no transaction on the station there is nothing to wait for: the trigger ends at
/// once (the simulator, like SAP's, answers Rejected), with no message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untargeted_v201_transaction_event_without_transactions_ends_at_once() {
    let server = Serve::start().await;
    for marking in BOTH {
        let (id, cfg) = config("IDLE201", ProtocolVersion::V201, 2, marking);
        let _sim = spawn(&server, cfg);
        server.wait_for(&id, "booted", booted).await;
        let t = server
            .trigger(&id, json!({"requestedMessage": "TransactionEvent"}))
            .await;
        assert_eq!(t.code, 200, "{t}");
        assert_eq!(t.answer["status"], "Rejected", "{t}");
        assert!(t.messages().is_empty(), "{t}");
        assert!(t.took < PROMPT, "{marking:?}: {t}");
    }
}

/// Routine meter traffic for the very connector/EVSE asked for, arriving while the station
/// takes its time (300 ms) to send the triggered message: a station known to mark never
/// has a periodic sample taken for the answer (it waits for the marked one); one that does
/// not mark is answered by the first message for the target. Either way the result holds
/// exactly one message for the connector, never a triggered one plus a periodic sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_samples_during_the_wait_are_not_taken_for_the_answer() {
    let server = Serve::start().await;
    for (protocol, requested, target) in [
        (ProtocolVersion::V16, "MeterValues", "connectorId" as &str),
        (ProtocolVersion::V201, "TransactionEvent", "evse"),
    ] {
        for marking in BOTH {
            let name = format!("P{}", protocol.subprotocol());
            let (id, mut cfg) = config(&name, protocol, 2, marking);
            charging(
                &mut cfg,
                Duration::from_secs(120),
                Duration::from_millis(100),
            );
            cfg.faults
                .add_flag(&format!("{requested}=delay:300"))
                .expect("fault flag");
            let _sim = spawn(&server, cfg);
            server
                .wait_for(&id, "two running transactions", |s| {
                    transaction_ids(s).len() == 2
                })
                .await;
            let body = |n: i64| {
                let mut b = json!({"requestedMessage": requested});
                b[target] = if target == "evse" {
                    json!({"id": n})
                } else {
                    json!(n)
                };
                b
            };
            // The first trigger teaches the server the station's habit: a marked answer
            // 300 ms later supersedes the periodic sample taken meanwhile; an unmarked
            // one is a repeat and the periodic sample stays.
            let first = server.trigger(&id, body(2)).await;
            assert_eq!(first.code, 200, "{first}");
            assert_eq!(first.messages().len(), 1, "{marking:?}: {first}");
            // Both ask for one connector/EVSE: an unmarked answer is taken by its target.
            let reason = "target";
            assert_eq!(first.matched_by(), [marking.reason(reason)], "{first}");

            let t = server.trigger(&id, body(1)).await;
            assert_eq!(t.code, 200, "{marking:?}: {t}");
            assert_eq!(t.answer["outcome"], "Completed", "{t}");
            let messages = t.messages();
            assert_eq!(messages.len(), 1, "one message for the target: {t}");
            let m = &messages[0];
            let about = if protocol == ProtocolVersion::V16 {
                m["payload"]["connectorId"].clone()
            } else {
                m["payload"]["evse"]["id"].clone()
            };
            let state = server.station(&id).await;
            let on_evse_1 = items(&state["transactions"])
                .iter()
                .find(|tx| tx["evseId"] == 1 || tx["connectorId"] == 1)
                .cloned()
                .unwrap_or(Value::Null);
            if protocol == ProtocolVersion::V16 {
                assert_eq!(about, 1, "{t}");
            } else {
                assert_eq!(
                    m["payload"]["transactionInfo"]["transactionId"], on_evse_1["transactionId"],
                    "{t}; {state}"
                );
            }
            assert_eq!(t.matched_by(), [marking.reason(reason)], "{t}");
            let routine = server
                .calls_since(&id, m["action"].as_str().unwrap_or(""), &t)
                .await;
            match marking {
                Marking::Marks => {
                    let marked = if protocol == ProtocolVersion::V16 {
                        &m["payload"]["meterValue"][0]["sampledValue"][0]["context"]
                    } else {
                        &m["payload"]["triggerReason"]
                    };
                    assert_eq!(*marked, "Trigger", "{t}");
                    assert!(
                        t.took >= Duration::from_millis(250),
                        "it waited for the marked message: {t}"
                    );
                    // The periodic samples it passed over.
                    let passed_over = routine
                        .iter()
                        .filter(|e| e["messageId"] != m["messageId"])
                        .count();
                    assert!(
                        passed_over >= 1,
                        "the test needs routine traffic during the wait: {routine:?}"
                    );
                }
                Marking::Unmarked => {
                    assert!(
                        t.took < PROMPT,
                        "no quiet period once the habit is known: {t}"
                    );
                }
            }
        }
    }
}

/// A trigger the station accepts but never answers, while the station's other
/// connectors charge and finish (Preparing/Charging/Finishing→Available status
/// notifications, periodic MeterValues): none of that routine traffic is a wrong target,
/// so the trigger ends as a plain message_timeout with no unmatched message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routine_traffic_for_other_connectors_is_not_a_wrong_target() {
    let server = Serve::start().await;
    for marking in BOTH {
        let (id, mut cfg) = config("ROUTINE16", ProtocolVersion::V16, 2, marking);
        charging(
            &mut cfg,
            Duration::from_millis(250),
            Duration::from_millis(100),
        );
        cfg.idle_time = Duration::from_millis(150);
        for flag in [
            "StatusNotification=accept-never-send",
            "MeterValues=accept-never-send",
        ] {
            cfg.faults.add_flag(flag).expect("fault flag");
        }
        let _sim = spawn(&server, cfg);
        server.wait_for(&id, "booted", booted).await;
        // Connector 0 is the charge point itself: its status never changes here, while
        // connectors 1 and 2 go round their transactions.
        for requested in ["StatusNotification", "MeterValues"] {
            let t = server
                .trigger(
                    &id,
                    json!({"requestedMessage": requested, "connectorId": 0, "timeoutMs": 2000}),
                )
                .await;
            assert_eq!(t.code, 504, "{marking:?} {requested}: {t}");
            assert_eq!(t.answer["error"], "message_timeout", "{t}");
            assert!(items(&t.record["unmatched"]).is_empty(), "{}", t.record);
            assert!(items(&t.record["messages"]).is_empty(), "{}", t.record);
            let routine = server.calls_since(&id, requested, &t).await;
            if requested == "StatusNotification" {
                let available = routine
                    .iter()
                    .filter(|e| e["payload"]["status"] == "Available")
                    .count();
                assert!(
                    available >= 1,
                    "the test needs a Finishing→Available during the wait: {routine:?}"
                );
            } else {
                assert!(
                    routine.len() >= 2,
                    "periodic samples during the wait: {routine:?}"
                );
            }
        }
    }
}

/// The other side of the rule: a message of the asked kind for another connector that
/// nothing else explains (the status did not change, no periodic context) is reported
/// as a wrong target, in both marking modes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexplained_message_for_another_connector_is_a_wrong_target() {
    let server = Serve::start().await;
    for marking in BOTH {
        let (id, mut cfg) = config("WRONG16", ProtocolVersion::V16, 2, marking);
        cfg.faults
            .add_flag("StatusNotification=wrong-target")
            .expect("fault flag");
        let _sim = spawn(&server, cfg);
        server.wait_for(&id, "booted", booted).await;
        let t = server
            .trigger(
                &id,
                json!({"requestedMessage": "StatusNotification", "connectorId": 1, "timeoutMs": 1500}),
            )
            .await;
        assert_eq!(t.code, 502, "{t}");
        assert_eq!(t.answer["error"], "wrong_target", "{t}");
        let unmatched = items(&t.answer["unmatched"]);
        assert_eq!(unmatched.len(), 1, "{t}");
        assert_ne!(unmatched[0]["payload"]["connectorId"], 1, "{t}");
        assert_eq!(items(&t.record["unmatched"]).len(), 1, "{}", t.record);
    }
}

/// A job's results say why each station's messages were taken, as the trigger records do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_results_say_why_each_message_was_taken() {
    let server = Serve::start().await;
    let mut ids = Vec::new();
    let mut sims = Vec::new();
    for marking in BOTH {
        let (id, cfg) = config("JOB16", ProtocolVersion::V16, 2, marking);
        sims.push(spawn(&server, cfg));
        server.wait_for(&id, "booted", booted).await;
        ids.push((id, marking));
    }
    let (code, job) = server
        .post(
            "/api/v1/trigger-jobs",
            &json!({
                "selector": {"stationIds": ids.iter().map(|(id, _)| id).collect::<Vec<_>>()},
                "trigger": {"requestedMessage": "MeterValues", "connectorId": 2},
            }),
        )
        .await;
    assert!(code == 201 || code == 202 || code == 200, "{code}: {job}");
    let job_id = job["jobId"].as_str().expect("job id").to_owned();
    let started = Instant::now();
    let done = loop {
        let (_, j) = server
            .get(&format!("/api/v1/trigger-jobs/{job_id}?include=messages"))
            .await;
        if j["finishedAt"].is_string() {
            break j;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "job never ended: {j}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (id, marking) in &ids {
        let result = items(&done["results"])
            .into_iter()
            .find(|r| r["stationId"] == *id)
            .unwrap_or_else(|| panic!("no result for {id}: {done}"));
        assert_eq!(result["outcome"], "Completed", "{result}");
        let want = json!([marking.reason("target")]);
        assert_eq!(result["matchedBy"], want, "{result}");
        let messages = items(&result["messages"]);
        let each: Vec<Value> = messages.iter().map(|m| m["matchedBy"].clone()).collect();
        assert_eq!(
            json!(each),
            want,
            "include=messages says it per message: {result}"
        );
    }
}
