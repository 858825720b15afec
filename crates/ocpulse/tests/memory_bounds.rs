//! What clients can make the server hold: the server runs in this process, so its RSS
//! is this process's (`/proc/self/status`). Prints the numbers and asserts generous bounds
//! (the attacks that motivated them took the RSS to 1.35 GB and 2 GB).
//!
//! `cargo test -p ocpulse --test memory_bounds -- --nocapture` shows the numbers.
//! Loopback only; every loop is bounded in count and time.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Station};
use futures_util::StreamExt;
use ocpulse_core::fleet_job::StationResult;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// This process's resident set, in MiB (0 where `/proc` has none).
fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// An event-stream client that reads its response headers and then never reads again.
/// Its small receive buffer and a network-sized MSS (loopback's 64 KiB MSS would let the
/// kernel queue megabytes per connection) keep what the kernel absorbs small, so the
/// server, not the kernel, is what would hold its backlog.
async fn never_reading_client(server: &Server) -> TcpStream {
    let raw = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .expect("socket");
    raw.set_recv_buffer_size(8 * 1024).expect("rcvbuf");
    raw.set_tcp_mss(1400).expect("mss");
    raw.set_nonblocking(true).expect("nonblocking");
    let socket = TcpSocket::from_std_stream(raw.into());
    let mut tcp = socket.connect(server.addr).await.expect("connect");
    let request = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 4096, "response headers");
        tcp.read_exact(&mut byte).await.expect("headers");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// Sends `n` DataTransfer CALLs of `size` bytes, pipelined in windows of 100, all acked.
async fn produce(st: &mut Station, n: usize, size: usize) {
    let data = "x".repeat(size);
    for window in 0..n / 100 {
        for i in 0..100 {
            let id = format!("m-{}", window * 100 + i);
            st.send_text(
                &json!([2, id, "DataTransfer", {"vendorId": "acme", "data": data}]).to_string(),
            )
            .await;
        }
        for _ in 0..100 {
            // Longer than `Station::recv`'s 10 s: on a debug build with two shared cores
            // the first events for 2000 clients cost seconds of CPU.
            let frame = loop {
                let msg = tokio::time::timeout(Duration::from_secs(60), st.ws.next())
                    .await
                    .expect("an answer within 60 s")
                    .expect("open")
                    .expect("ok");
                if let Message::Text(t) = msg {
                    break serde_json::from_str::<serde_json::Value>(t.as_str()).expect("json");
                }
            };
            assert_eq!(frame[0], 3, "{frame}");
        }
    }
}

const CLIENTS: usize = 2_000;

async fn sse_clients_that_never_read() -> (u64, u64, u64) {
    let server = Server::start_with(|c| c.event_stream_stall = Duration::from_secs(2)).await;
    let mut st = Station::connect(&server, "MEM1", "ocpp1.6").await;
    st.boot16().await;
    produce(&mut st, 200, 2048).await; // warm the server's pools up
    let before = rss_mib();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(never_reading_client(&server).await);
    }
    let opened = started.elapsed();
    // 2 × 3000 entries of ~2.3 KB: each client is offered ~14 MB it never reads.
    let mut peak = rss_mib();
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        for _ in 0..4000 {
            peak = peak.max(rss_mib());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let producing = Instant::now();
    produce(&mut st, 3_000, 2048).await;
    let produced = producing.elapsed();
    assert!(
        produced < Duration::from_secs(180),
        "stations keep being served beside unread streams: {produced:?}"
    );
    // Past the stall timeout every stream has been ended and its connection closed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    sampler.abort();
    peak = peak.max(rss_mib());
    let after = rss_mib();
    // The server closed its side of every connection: each client reads to an end.
    let mut closed = 0;
    for mut c in clients.drain(..) {
        let mut sink = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            match tokio::time::timeout(Duration::from_millis(50), c.read(&mut sink)).await {
                Ok(Ok(0) | Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) if Instant::now() < deadline => continue,
                _ => break,
            }
        }
    }
    eprintln!(
        "SSE: {CLIENTS} never-reading clients opened in {opened:?}; 6000 entries produced in {produced:?}; \
         RSS before {before} MiB, peak {peak} MiB, 5 s after {after} MiB; {closed} of {CLIENTS} connections closed by the server"
    );
    assert!(
        closed >= CLIENTS * 9 / 10,
        "stalled clients are disconnected: {closed} of {CLIENTS}"
    );
    drop(st);
    server.stop().await;
    (before, peak, after)
}

async fn jobs_over_unknown_ids() -> (u64, u64, u64) {
    const JOBS: usize = 30;
    const IDS: usize = 10_000;
    let server = Server::start().await;
    let (code, answer) = server
        .post(
            "/api/v1/trigger-jobs",
            &json!({
                "selector": {"stationIds": (0..80_000).map(|i| format!("NOPE-{i}")).collect::<Vec<_>>()},
                "trigger": {"requestedMessage": "Heartbeat"},
            })
            .to_string(),
        )
        .await;
    assert_eq!(
        (code, answer["error"].as_str()),
        (400, Some("too_many_station_ids")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("10000")),
        "{answer}"
    );
    let before = rss_mib();
    let mut ids = Vec::new();
    for j in 0..JOBS {
        let body = json!({
            "selector": {"stationIds": (0..IDS).map(|i| format!("UNKNOWN-{j}-{i:05}")).collect::<Vec<_>>()},
            "trigger": {"requestedMessage": "StatusNotification"},
            "wait": true,
        });
        let (code, job) = server.post("/api/v1/trigger-jobs", &body.to_string()).await;
        assert_eq!(code, 200, "{}", job["error"]);
        assert_eq!(job["counts"]["UnknownStation"], IDS, "{}", job["counts"]);
        ids.push(job["jobId"].as_str().expect("id").to_owned());
    }
    let peak = rss_mib();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_mib();
    // The oldest job's results left memory; they are read back from the store whole.
    let (code, oldest) = server
        .get(&format!("/api/v1/trigger-jobs/{}", ids[0]))
        .await;
    assert_eq!(code, 200);
    assert_eq!(oldest["results"].as_array().map(Vec::len), Some(IDS));
    assert_eq!(oldest["results"][0]["outcome"], "UnknownStation");
    assert_eq!(oldest["total"], IDS);
    let (_, list) = server.get("/api/v1/trigger-jobs?limit=1000").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(JOBS));
    assert!(
        list["items"]
            .as_array()
            .expect("jobs")
            .iter()
            .all(|j| j["total"] == IDS && j["failed"] == IDS),
        "counts survive the release of results"
    );
    eprintln!(
        "jobs: {JOBS} jobs of {IDS} unknown ids (a StationResult is {} bytes inline); RSS before {before} MiB, after the jobs {peak} MiB, 1 s later {after} MiB",
        std::mem::size_of::<StationResult>()
    );
    server.stop().await;
    (before, peak, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_big_jobs_hold_bounded_memory() {
    let (before, peak, after) = jobs_over_unknown_ids().await;
    assert!(
        peak.saturating_sub(before) < 400,
        "jobs over unknown ids: RSS {before} -> {peak} MiB"
    );
    assert!(
        after.saturating_sub(before) < 400,
        "jobs over unknown ids: RSS {before} -> {after} MiB after they ended"
    );
    let (before, peak, after) = sse_clients_that_never_read().await;
    assert!(
        peak.saturating_sub(before) < 700,
        "2000 never-reading SSE clients: RSS {before} -> peak {peak} MiB"
    );
    // The allocator keeps freed pages, so RSS does not fall back; a second wave shows
    // the first one's memory was freed and reused rather than kept.
    let (_, peak2, after2) = sse_clients_that_never_read().await;
    assert!(
        peak2.saturating_sub(after) < 150,
        "a second wave reuses the first one's memory: {after} -> peak {peak2} MiB"
    );
    assert!(
        after2.saturating_sub(before) < 700,
        "{before} -> {after2} MiB"
    );
}
