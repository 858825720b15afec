//! The live event stream (`GET /api/v1/events`) end to end: a real server, real stations,
//! the SSE body read as it arrives.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Station, spawn_trigger};
use serde_json::{Value, json};

/// One parsed SSE event (comments are skipped).
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<i64>,
    event: Option<String>,
    data: Value,
}

/// An open event stream, read chunk by chunk.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(server: &Server, query: &str, last_event_id: Option<i64>) -> Self {
        let mut request = reqwest::Client::new().get(server.url(&format!("/api/v1/events{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("stream headers within 10 s")
            .expect("GET /api/v1/events");
        assert_eq!(response.status().as_u16(), 200, "event stream opens");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, or `None` if none arrives within `wait`.
    async fn next_within(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .expect("stream readable")
                .expect("stream still open");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream"));
        }
    }

    /// The next event, or `None` once the server has ended the stream (or closed its
    /// connection); panics if neither happens within 10 s.
    async fn next_or_end(&mut self) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .expect("an event or the end within 10 s");
            match chunk {
                Ok(Some(chunk)) => self
                    .buffer
                    .push_str(std::str::from_utf8(&chunk).expect("UTF-8 stream")),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    async fn next(&mut self) -> SseEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event within 10 s")
    }

    async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next().await);
        }
        events
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, None, String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().parse().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if data.is_empty() {
        return None;
    }
    Some(SseEvent {
        id,
        event,
        data: serde_json::from_str(&data).expect("JSON data"),
    })
}

/// (type, direction, action) of an entry event, the shape most assertions compare.
fn shape(e: &SseEvent) -> (String, String, String) {
    let s = |k: &str| e.data[k].as_str().unwrap_or_default().to_owned();
    (s("type"), s("direction"), s("action"))
}

fn t(ty: &str, dir: &str, action: &str) -> (String, String, String) {
    (ty.into(), dir.into(), action.into())
}

fn ids(events: &[SseEvent]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.id.expect("entry events have ids"))
        .collect()
}

fn assert_increasing(ids: &[i64]) {
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increasing: {ids:?}"
    );
}

#[tokio::test]
async fn a_trigger_streams_connected_then_its_four_frames_in_journal_order() {
    let server = Server::start().await;
    // `kind=station,frame`: the trigger's own Trigger* events are someone else's concern.
    let mut events = Events::open(&server, "?kind=station,frame", None).await;
    let mut st = Station::connect(&server, "CPEV", "ocpp1.6").await;
    st.boot16().await;
    let http = spawn_trigger(&server, "CPEV", json!({"requestedMessage": "Heartbeat"}));
    let (id, action, _) = st.next_call().await;
    assert_eq!(action, "TriggerMessage");
    st.reply(&id, json!({"status": "Accepted"})).await;
    let beat = st.call("Heartbeat", json!({})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");

    let got = events.take(7).await;
    assert_eq!(
        got.iter().map(shape).collect::<Vec<_>>(),
        vec![
            t("EVENT", "in", "StationConnected"),
            t("CALL", "in", "BootNotification"),
            t("CALLRESULT", "out", "BootNotification"),
            t("CALL", "out", "TriggerMessage"),
            t("CALLRESULT", "in", "TriggerMessage"),
            t("CALL", "in", "Heartbeat"),
            t("CALLRESULT", "out", "Heartbeat"),
        ]
    );
    let seqs = ids(&got);
    assert_increasing(&seqs);
    for (e, seq) in got.iter().zip(&seqs) {
        assert_eq!(e.data["seq"], json!(seq), "id is the journal seq");
        assert_eq!(e.data["stationId"], "CPEV");
        assert!(e.event.is_none(), "entries are plain message events");
    }
    assert_eq!(got[0].data["kind"], "station");
    assert_eq!(
        got[0].data["payload"],
        json!({"protocol": "ocpp1.6", "generation": got[0].data["payload"]["generation"]})
    );
    assert!(got[0].data["payload"]["generation"].is_u64());
    assert_eq!(got[3].data["kind"], "frame");
    assert_eq!(got[3].data["messageId"], json!(id));
    assert_eq!(got[4].data["messageId"], json!(id));
    assert_eq!(got[4].data["payload"], json!({"status": "Accepted"}));
    assert_eq!(got[5].data["messageId"], beat[1]);
    assert_eq!(body["messages"][0]["messageId"], beat[1]);
}

#[tokio::test]
async fn filters_select_by_station_kind_and_action_lists() {
    let server = Server::start().await;
    let mut only_a = Events::open(&server, "?station=CPA", None).await;
    let mut stations = Events::open(&server, "?kind=station", None).await;
    let mut actions = Events::open(&server, "?action=Heartbeat,StatusNotification", None).await;

    let mut a = Station::connect(&server, "CPA", "ocpp1.6").await;
    a.boot16().await;
    a.call("Heartbeat", json!({})).await;
    let mut b = Station::connect(&server, "CPB", "ocpp1.6").await;
    b.boot16().await;
    b.status16(1, "Available").await;
    b.ws.close(None).await.expect("close");
    common::wait_connected(&server, "CPB", false).await;
    a.call("Heartbeat", json!({})).await;

    let got = only_a.take(7).await;
    assert!(got.iter().all(|e| e.data["stationId"] == "CPA"), "{got:?}");
    assert_eq!(
        got.iter().map(shape).collect::<Vec<_>>(),
        vec![
            t("EVENT", "in", "StationConnected"),
            t("CALL", "in", "BootNotification"),
            t("CALLRESULT", "out", "BootNotification"),
            t("CALL", "in", "Heartbeat"),
            t("CALLRESULT", "out", "Heartbeat"),
            t("CALL", "in", "Heartbeat"),
            t("CALLRESULT", "out", "Heartbeat"),
        ]
    );

    let got = stations.take(3).await;
    assert_eq!(
        got.iter()
            .map(|e| (
                e.data["stationId"].clone(),
                e.data["action"].clone(),
                e.data["kind"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (json!("CPA"), json!("StationConnected"), json!("station")),
            (json!("CPB"), json!("StationConnected"), json!("station")),
            (json!("CPB"), json!("StationDisconnected"), json!("station")),
        ]
    );
    assert_eq!(got[2].data["payload"]["reason"], "connection closed");
    assert_eq!(
        got[2].data["payload"]["generation"],
        got[1].data["payload"]["generation"]
    );

    let got = actions.take(6).await;
    assert_eq!(
        got.iter()
            .map(|e| (
                e.data["stationId"].clone(),
                e.data["type"].clone(),
                e.data["action"].clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (json!("CPA"), json!("CALL"), json!("Heartbeat")),
            (json!("CPA"), json!("CALLRESULT"), json!("Heartbeat")),
            (json!("CPB"), json!("CALL"), json!("StatusNotification")),
            (
                json!("CPB"),
                json!("CALLRESULT"),
                json!("StatusNotification")
            ),
            (json!("CPA"), json!("CALL"), json!("Heartbeat")),
            (json!("CPA"), json!("CALLRESULT"), json!("Heartbeat")),
        ]
    );
    assert_increasing(&ids(&got));
}

#[tokio::test]
async fn bad_kinds_and_unknown_parameters_are_400_json() {
    let server = Server::start().await;
    let (code, body) = server.get("/api/v1/events?kind=frame,frames").await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "invalid_kind");
    assert_eq!(
        body["validValues"],
        json!(["frame", "station", "trigger", "alert"])
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"frames\"") && m.contains("frame, station, trigger")),
        "{body}"
    );
    let (code, body) = server.get("/api/v1/events?stationId=CP1").await;
    assert_eq!((code, body["error"].clone()), (400, json!("invalid_query")));
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("station, action, kind, trigger and after")),
        "{body}"
    );
    let (code, body) = server.get("/api/v1/events?after=yesterday").await;
    assert_eq!((code, body["error"].clone()), (400, json!("invalid_after")));
}

#[tokio::test]
async fn last_event_id_replays_exactly_what_was_missed_then_continues_live() {
    let server = Server::start().await;
    let mut first = Events::open(&server, "?station=CPR", None).await;
    let mut st = Station::connect(&server, "CPR", "ocpp1.6").await;
    st.boot16().await;
    let seen = first.take(2).await; // StationConnected, the BootNotification CALL
    let last_seen = seen[1].id.expect("id");
    drop(first);

    // Meanwhile (nobody listening): the Boot CALLRESULT already happened, plus three beats.
    for _ in 0..3 {
        st.call("Heartbeat", json!({})).await;
    }
    let (_, journal) = server.get("/api/v1/stations/CPR/messages?limit=1000").await;
    let mut missed: Vec<i64> = journal["items"]
        .as_array()
        .expect("journal")
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .filter(|seq| *seq > last_seen)
        .collect();
    missed.sort_unstable();
    assert_eq!(
        missed.len(),
        7,
        "Boot CALLRESULT + three beats and their answers"
    );

    let mut resumed = Events::open(&server, "?station=CPR", Some(last_seen)).await;
    // The query form, for clients that cannot set headers, replays the same.
    let mut by_query =
        Events::open(&server, &format!("?station=CPR&after={last_seen}"), None).await;
    let replayed = resumed.take(7).await;
    assert_eq!(
        ids(&replayed),
        missed,
        "exactly the missed entries, in order"
    );
    assert_eq!(
        shape(&replayed[0]),
        t("CALLRESULT", "out", "BootNotification")
    );
    assert_eq!(ids(&by_query.take(7).await), missed);

    st.status16(1, "Charging").await;
    let live = resumed.take(2).await;
    assert_eq!(
        live.iter().map(shape).collect::<Vec<_>>(),
        vec![
            t("CALL", "in", "StatusNotification"),
            t("CALLRESULT", "out", "StatusNotification"),
        ]
    );
    assert!(
        live[0].id > missed.last().copied(),
        "no id twice, none out of order"
    );
    assert!(
        resumed
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing after the live entries"
    );
}

/// A client that does not read is not caught up in memory: it is disconnected (after a
/// final `event: lag` when the live feed overtakes it, or by closing its connection when
/// its socket does not drain), and resuming with `Last-Event-ID` replays everything it
/// missed from the journal, each id once and in order. (Before, a lagging client was
/// caught up inside the same stream, which held whole journal pages per client.)
#[tokio::test]
async fn a_consumer_that_never_reads_does_not_slow_stations_is_disconnected_and_resumes_losing_nothing()
 {
    const MESSAGES: usize = 4000;
    let server = Server::start_with(|c| c.event_stream_stall = Duration::from_secs(2)).await;
    let mut events = Events::open(&server, "?station=CPSLOW", None).await;
    let mut st = Station::connect(&server, "CPSLOW", "ocpp1.6").await;
    st.boot16().await;

    // Large payloads, so the entries outgrow the socket buffers and the live feed's bound
    // while the stream is not read.
    let data = "x".repeat(8192);
    let started = Instant::now();
    // Pipelined in windows of 100 (the session commits them in groups), every one acked.
    for window in 0..MESSAGES / 100 {
        for i in 0..100 {
            let id = format!("dt-{}", window * 100 + i);
            st.send_text(
                &json!([2, id, "DataTransfer", {"vendorId": "acme", "data": data}]).to_string(),
            )
            .await;
        }
        for _ in 0..100 {
            let frame = st.recv().await;
            assert_eq!(frame[0], 3, "acknowledged: {frame}");
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "{MESSAGES} acknowledged messages took {took:?} with an unread event stream"
    );
    // Unread for longer than the stall timeout: the server has given up on this stream.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (mut lags, mut disconnects) = (0, 0);
    let mut seqs: Vec<i64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let last_id = json!(format!("dt-{}", MESSAGES - 1));
    let mut marker = None;
    loop {
        assert!(Instant::now() < deadline, "stream caught up within 60 s");
        let Some(e) = events.next_or_end().await else {
            // Disconnected: resume where the last event we got left off (from the start
            // of this fresh journal if none came).
            disconnects += 1;
            assert!(disconnects < 50, "resuming makes progress");
            let resume = seqs.last().copied().unwrap_or(0);
            events = Events::open(&server, "?station=CPSLOW", Some(resume)).await;
            continue;
        };
        if e.event.as_deref() == Some("lag") {
            assert!(
                e.data["missed"].as_u64().is_some_and(|n| n > 0),
                "{:?}",
                e.data
            );
            assert_eq!(
                e.id,
                Some(e.data["lastEventId"].as_i64().expect("lastEventId"))
            );
            lags += 1;
            assert!(
                events.next_or_end().await.is_none(),
                "the stream ends after its lag notice"
            );
            disconnects += 1;
            // The notice's id is where to resume (an EventSource would send it).
            events = Events::open(&server, "?station=CPSLOW", e.id).await;
            continue;
        }
        seqs.push(e.id.expect("id"));
        if e.data["type"] != "CALLRESULT" {
            continue;
        }
        if e.data["messageId"] == last_id {
            // Caught up: one more message, live, must come next, with nothing repeated.
            marker = Some(st.call("Heartbeat", json!({})).await);
        } else if marker.as_ref().is_some_and(|m| e.data["messageId"] == m[1]) {
            break;
        }
    }
    assert!(
        disconnects >= 1,
        "a client that never read was disconnected"
    );
    // One station, one writer: its entries' seqs are consecutive, so any loss is a gap.
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap and no repeat in {} seqs ({lags} lag events, {disconnects} disconnects)",
        seqs.len()
    );
    assert_eq!(
        seqs.len(),
        1 + 2 + 2 * MESSAGES + 2,
        "connected, boot, every message, the marker"
    );
    eprintln!(
        "{MESSAGES} messages acknowledged in {took:?}; the stream was ended {disconnects} time(s) ({lags} lag notice(s))"
    );
}

#[tokio::test]
async fn an_open_stream_ends_at_shutdown_instead_of_holding_it_up() {
    let server = Server::start().await;
    let mut events = Events::open(&server, "", None).await;
    server.stop().await; // panics unless the server exits within 5 s
    let end = tokio::time::timeout(Duration::from_secs(5), events.response.chunk())
        .await
        .expect("the stream ends with the server");
    assert!(
        matches!(end, Ok(None) | Err(_)),
        "no event after shutdown: {end:?}"
    );
}

#[tokio::test]
async fn a_trigger_id_stream_shows_the_whole_trigger_in_order() {
    let server = Server::start().await;
    let mut st = Station::connect(&server, "EVT-T", "ocpp1.6").await;
    st.boot16().await;
    let mut live = Events::open(&server, "?kind=trigger,frame&station=EVT-T", None).await;
    let http = spawn_trigger(&server, "EVT-T", json!({"requestedMessage": "Heartbeat"}));
    let (id, _, _) = st.next_call().await;
    st.reply(&id, json!({"status": "Accepted"})).await;
    st.call("Heartbeat", json!({})).await;
    let (code, body) = http.await.expect("join");
    assert_eq!(code, 200, "{body}");
    let trigger = body["triggerId"].as_str().expect("trigger id").to_owned();

    let seen: Vec<(String, String)> = live
        .take(5)
        .await
        .into_iter()
        .map(|e| {
            (
                e.data["type"].as_str().unwrap_or_default().to_owned(),
                e.data["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // A trigger is journaled once, as it ends; its frames carry its id before that.
    let want = [
        ("CALL", "TriggerMessage"),
        ("CALLRESULT", "TriggerMessage"),
        ("CALL", "Heartbeat"),
        ("CALLRESULT", "Heartbeat"),
        ("EVENT", "TriggerCompleted"),
    ];
    // Frames of the same instant may share a commit with the event, so compare the order
    // of what the trigger id selects.
    let mut replay = Events::open(&server, &format!("?trigger={trigger}&after=0"), None).await;
    let by_trigger: Vec<(String, String)> = replay
        .take(want.len())
        .await
        .into_iter()
        .map(|e| {
            assert_eq!(e.data["triggerId"], json!(trigger));
            (
                e.data["type"].as_str().unwrap_or_default().to_owned(),
                e.data["action"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(by_trigger, want);
    for w in &want {
        assert!(seen.contains(w), "live stream missed {w:?}: {seen:?}");
    }
}
