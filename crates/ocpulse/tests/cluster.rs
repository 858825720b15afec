//! Cluster mode: three real servers (in this process) on one PostgreSQL schema and one NATS
//! (the machine's; each test a cluster name of its own), with simulated stations on
//! different nodes. Skipped unless `OCPULSE_TEST_POSTGRES_URL` and `OCPULSE_TEST_NATS_URL`
//! are set (`.ci/run` sets both).

mod common;

use std::time::Duration;

use common::{Server, sim};
use ocpp_rpc::ProtocolVersion;
use ocpulse::config::ClusterSettings;
use ocpulse_sim::StationConfig;
use ocpulse_store::contract::PgSchema;
use serde_json::{Value, json};

/// The cluster's database and NATS, or `None` (saying so) when either is not configured.
async fn backends() -> Option<(PgSchema, String)> {
    let Ok(nats) = std::env::var("OCPULSE_TEST_NATS_URL") else {
        eprintln!("OCPULSE_TEST_NATS_URL is not set: cluster test skipped");
        return None;
    };
    Some((PgSchema::create().await?, nats))
}

/// A cluster name no other test run uses.
fn cluster_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("t{}_{nanos}", std::process::id())
}

async fn node(schema: &PgSchema, nats: &str, cluster: &str, id: &str) -> Server {
    let url = schema.url.clone();
    let settings = ClusterSettings {
        url: nats.to_owned(),
        node_id: id.to_owned(),
        name: cluster.to_owned(),
    };
    Server::start_with(move |c| {
        c.database_url = Some(url);
        c.cluster = Some(settings);
        c.drain_time = Duration::from_secs(1);
    })
    .await
}

/// Polls `path` on `server` until `ready` holds (bounded: 15 s).
async fn until(server: &Server, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (code, body) = server.get(path).await;
        if code == 200 && ready(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never became ready: {last}");
}

/// Three nodes, all seeing each other and one leader.
async fn three_nodes(schema: &PgSchema, nats: &str) -> [Server; 3] {
    let name = cluster_name();
    let a = node(schema, nats, &name, "a").await;
    let b = node(schema, nats, &name, "b").await;
    let c = node(schema, nats, &name, "c").await;
    for server in [&a, &b, &c] {
        until(server, "/api/v1/cluster", |v| {
            v["nodes"].as_array().is_some_and(|n| n.len() == 3) && v["leader"].is_string()
        })
        .await;
    }
    [a, b, c]
}

fn station(id: &str, version: ProtocolVersion) -> StationConfig {
    StationConfig::new(id, version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_node_triggers_a_station_held_by_another_and_answers_as_if_local() {
    let Some((schema, nats)) = backends().await else {
        return;
    };
    let [a, b, c] = three_nodes(&schema, &nats).await;
    let (stop16, _) = sim::spawn(&b, station("CL16", ProtocolVersion::V16));
    let (stop201, _) = sim::spawn(&c, station("CL201", ProtocolVersion::V201));
    // Node a shows both, connected where they are.
    let seen16 = until(&a, "/api/v1/stations/CL16", |v| {
        v["connected"] == true && v["boot"].is_object()
    })
    .await;
    assert_eq!(seen16["node"], "b", "{seen16}");
    let seen201 = until(&a, "/api/v1/stations/CL201", |v| v["connected"] == true).await;
    assert_eq!(seen201["node"], "c", "{seen201}");
    // Triggers through node a are sent by the owning node and answered the same.
    for (id, body) in [
        (
            "CL16",
            json!({"requestedMessage": "StatusNotification", "connectorId": 1}),
        ),
        ("CL201", json!({"requestedMessage": "Heartbeat"})),
    ] {
        let (code, answer) = a.trigger(id, body).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["outcome"], "Completed", "{answer}");
        assert_eq!(answer["stationId"], id, "{answer}");
        assert!(
            answer["messages"].as_array().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
        // The record is in the shared store: every node reads it.
        let record_id = answer["triggerId"].as_str().expect("triggerId").to_owned();
        until(&c, &format!("/api/v1/triggers/{record_id}"), |r| {
            r["outcome"] == "Completed"
        })
        .await;
    }
    // The errors are those of a server alone.
    let (code, answer) = a
        .trigger("NEVER-SEEN", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_eq!(code, 404, "{answer}");
    assert_eq!(answer["error"], "station_not_found", "{answer}");
    let (code, answer) = a
        .trigger("CL16", json!({"requestedMessage": "NoSuchMessage"}))
        .await;
    assert_eq!(code, 400, "{answer}");
    // The cluster lists its nodes and where the stations are.
    let cluster = until(&a, "/api/v1/cluster", |v| v["stations"] == 2).await;
    assert_eq!(cluster["mode"], "cluster");
    assert_eq!(cluster["node"], "a");
    let held: Vec<(String, u64)> = cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap_or_default().to_owned(),
                n["stations"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        held,
        [("a".into(), 0), ("b".into(), 1), ("c".into(), 1)],
        "{cluster}"
    );
    // A station gone from its node is not connected anywhere, and a trigger says so.
    stop16.cancel();
    until(&a, "/api/v1/stations/CL16", |v| v["connected"] == false).await;
    let (code, answer) = a
        .trigger("CL16", json!({"requestedMessage": "Heartbeat"}))
        .await;
    assert_eq!(code, 409, "{answer}");
    assert_eq!(answer["error"], "station_not_connected", "{answer}");
    stop201.cancel();
    for server in [a, b, c] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_station_that_connects_to_another_node_is_closed_on_the_old_one() {
    let Some((schema, nats)) = backends().await else {
        return;
    };
    let [a, b, c] = three_nodes(&schema, &nats).await;
    let mut first = common::Station::connect(&b, "MOVER", "ocpp1.6").await;
    first.boot16().await;
    until(&a, "/api/v1/stations/MOVER", |v| v["node"] == "b").await;
    let mut second = common::Station::connect(&c, "MOVER", "ocpp1.6").await;
    second.boot16().await;
    // Node b closes its (older) connection.
    use futures_util::StreamExt;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match first.ws.next().await {
                None | Some(Err(_)) => break,
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "node b kept the older connection open");
    // Every node shows it on c, connected, and a trigger through b reaches it there.
    for server in [&a, &b, &c] {
        until(server, "/api/v1/stations/MOVER", |v| {
            v["node"] == "c" && v["connected"] == true
        })
        .await;
    }
    let http = {
        let url = b.url("/api/v1/stations/MOVER/trigger");
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&json!({"requestedMessage": "Heartbeat"}))
                .send()
                .await
                .expect("POST");
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    let (id, action, payload) = second.next_call().await;
    assert_eq!(action, "TriggerMessage");
    assert_eq!(payload["requestedMessage"], "Heartbeat");
    second.reply(&id, json!({"status": "Accepted"})).await;
    second.call("Heartbeat", json!({})).await;
    let (code, answer) = http.await.expect("join");
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["outcome"], "Completed", "{answer}");
    for server in [a, b, c] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_node_leads_the_background_work_and_another_takes_over_when_it_stops() {
    let Some((schema, nats)) = backends().await else {
        return;
    };
    let nodes = three_nodes(&schema, &nats).await;
    let (_, cluster) = nodes[0].get("/api/v1/cluster").await;
    let leader = cluster["leader"].as_str().expect("a leader").to_owned();
    let leading: Vec<bool> = cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["leader"] == true)
        .collect();
    assert_eq!(leading.iter().filter(|l| **l).count(), 1, "{cluster}");
    let lead = ["a", "b", "c"]
        .iter()
        .position(|n| *n == leader)
        .expect("the leader is a node");
    // The station on a follower, the job asked through the other follower: the request goes
    // to the leader, whose runner has the station's node send the trigger.
    let holder = &nodes[(lead + 1) % 3];
    let asker = &nodes[(lead + 2) % 3];
    let (stop, _) = sim::spawn(holder, station("BG1", ProtocolVersion::V16));
    until(asker, "/api/v1/stations/BG1", |v| v["connected"] == true).await;
    let (code, job) = asker
        .post(
            "/api/v1/trigger-jobs",
            &json!({"selector": {"stationIds": ["BG1"]}, "trigger": {"requestedMessage": "Heartbeat"}})
                .to_string(),
        )
        .await;
    assert_eq!(code, 202, "{job}");
    let job_id = job["jobId"].as_str().expect("job id").to_owned();
    for server in &nodes {
        let done = until(server, &format!("/api/v1/trigger-jobs/{job_id}"), |j| {
            j["status"] == "completed"
        })
        .await;
        assert_eq!(done["results"][0]["outcome"], "Completed", "{done}");
    }
    // A job of calls likewise: the station's node sends each call and stores its record.
    let (code, job) = asker
        .post(
            "/api/v1/trigger-jobs",
            &json!({
                "selector": {"stationIds": ["BG1"]},
                "call": {"action": "ChangeConfiguration", "payload": {"key": "HeartbeatInterval", "value": "120"}, "timeoutMs": 5000},
                "wait": true
            })
            .to_string(),
        )
        .await;
    assert_eq!(code, 200, "{job}");
    let result = &job["results"][0];
    assert_eq!(result["outcome"], "Completed", "{job}");
    assert_eq!(result["status"], "Accepted", "{job}");
    let call_id = result["callId"].as_str().expect("callId");
    until(asker, &format!("/api/v1/calls/{call_id}"), |r| {
        r["outcome"] == "Completed"
    })
    .await;
    let [a, b, c] = nodes;
    // The leader stops: another node leads within the lease, and the routes follow.
    let mut rest = Vec::new();
    for (id, server) in [("a", a), ("b", b), ("c", c)] {
        if id == leader {
            server.stop().await;
        } else {
            rest.push(server);
        }
    }
    let after = until(&rest[0], "/api/v1/cluster", |v| {
        v["leader"].is_string() && v["leader"] != leader.as_str()
    })
    .await;
    assert_eq!(after["nodes"].as_array().map(Vec::len), Some(2), "{after}");
    let (code, jobs) = rest[1].get("/api/v1/trigger-jobs").await;
    assert_eq!(code, 200, "{jobs}");
    stop.cancel();
    for server in rest {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_drained_node_finishes_its_trigger_closes_with_1012_and_stops() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let Some((schema, nats)) = backends().await else {
        return;
    };
    let [a, b, c] = three_nodes(&schema, &nats).await;
    let mut st = common::Station::connect(&b, "DRAINED", "ocpp2.0.1").await;
    st.boot201().await;
    until(&a, "/api/v1/stations/DRAINED", |v| v["node"] == "b").await;
    // A trigger through node a is running on node b when the drain starts.
    let http = common::spawn_trigger(&a, "DRAINED", json!({"requestedMessage": "Heartbeat"}));
    let (id, action, _) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    let (code, drain) = c.post("/api/v1/cluster/nodes/b/drain", "{}").await;
    assert_eq!(code, 202, "{drain}");
    assert_eq!(drain["node"], "b", "{drain}");
    assert_eq!(drain["stations"], 1, "{drain}");
    // Draining: no new station, not ready.
    let (code, _) = b.get("/health/ready").await;
    assert_eq!(code, 503);
    let refused = tokio_tungstenite::connect_async(b.ws_url("NEWCOMER")).await;
    assert!(refused.is_err(), "a draining node takes no new station");
    // The trigger still completes.
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.call("Heartbeat", json!({})).await;
    let (code, answer) = http.await.expect("join");
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["outcome"], "Completed", "{answer}");
    // Then the station is closed with 1012 (service restart).
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match st.ws.next().await {
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => break None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("closed within the drain time");
    assert_eq!(close, Some(1012));
    // And the node leaves the cluster.
    until(&a, "/api/v1/cluster", |v| {
        v["nodes"]
            .as_array()
            .is_some_and(|n| n.iter().all(|n| n["id"] != "b"))
    })
    .await;
    let (code, answer) = a.post("/api/v1/cluster/nodes/zz/drain", "{}").await;
    assert_eq!(code, 404, "{answer}");
    assert_eq!(answer["error"], "node_not_found", "{answer}");
    for server in [a, b, c] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_never_hand_out_the_same_transaction_id() {
    let Some((schema, nats)) = backends().await else {
        return;
    };
    let [a, b, c] = three_nodes(&schema, &nats).await;
    let mut ids = Vec::new();
    for (server, name) in [(&a, "TXA"), (&b, "TXB"), (&c, "TXC")] {
        let mut st = common::Station::connect(server, name, "ocpp1.6").await;
        st.boot16().await;
        for n in 0..3 {
            let answer = st
                .call(
                    "StartTransaction",
                    json!({"connectorId": 1, "idTag": "TAG", "meterStart": n, "timestamp": "2026-12-05T00:00:00Z"}),
                )
                .await;
            ids.push(answer[2]["transactionId"].as_i64().expect("transactionId"));
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a transaction id repeats: {ids:?}");
    for server in [a, b, c] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registration_or_id_token_made_through_one_node_reaches_the_others() {
    let Some((schema, nats)) = backends().await else {
        return;
    };
    let [a, b, c] = three_nodes(&schema, &nats).await;
    // An id token blocked through node a is blocked for a station on node b.
    let r = reqwest::Client::new()
        .put(a.url("/api/v1/id-tokens/BLOCKED9"))
        .json(&json!({"status": "Blocked"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 201);
    let mut st = common::Station::connect(&b, "AUTHB", "ocpp1.6").await;
    st.boot16().await;
    let mut status = Value::Null;
    for _ in 0..100 {
        let answer = st.call("Authorize", json!({"idTag": "BLOCKED9"})).await;
        status = answer[2]["idTagInfo"]["status"].clone();
        if status == "Blocked" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "Blocked", "node b never learned the blocked token");
    // A station registered with a password through node a must present it on node c.
    let (code, reg) = a
        .post(
            "/api/v1/stations",
            &json!({"id": "REG9", "securityProfile": 1, "password": "0123456789abcdef0123"})
                .to_string(),
        )
        .await;
    assert_eq!(code, 201, "{reg}");
    // Node c learns it (within its re-read period), then refuses the station without it.
    until(&c, "/api/v1/stations/REG9", |v| {
        v["registration"]["securityProfile"] == 1
    })
    .await;
    let refused = tokio_tungstenite::connect_async(c.ws_url("REG9")).await;
    assert!(
        refused.is_err(),
        "node c let the registered station in without its password"
    );
    for server in [a, b, c] {
        server.stop().await;
    }
}
