//! The examples of the README and the manual (`docs/*.md`) run against a real server.
//!
//! Every `<!-- example -->` of a page (see `docs_support/markdown.rs`) is a curl command
//! and the body it answered. Each page gets a fresh server with two simulated stations, the
//! ones the pages talk about: `CP0001` (OCPP 1.6, connectors 1 and 2) and `CS0001` (OCPP
//! 2.0.1, one EVSE with one connector), both booted and reporting `Available`. The commands
//! run in page order and each answer must match the page (ids and times of the same shape
//! match, see `docs_support/matching.rs`). A command piped into `jq .` must show the
//! answer as jq prints it: indented, keys in the server's order (`docs_support/layout.rs`).
//! The README shows nothing else: every answer in it is such an example.
//!
//! `DOCS_UPDATE=1 cargo test -p ocpulse --test docs_examples` writes what the server
//! answered into the pages instead (review the diff: it is what a reader will see).

mod common;
mod docs_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;
use docs_support::curl;
use docs_support::layout;
use docs_support::markdown::{Example, examples, unchecked_outputs};
use docs_support::matching::{Ids, compare, substitute};
use ocpp_rpc::ProtocolVersion;
use ocpulse_sim::runner::{RunOptions, run_station};
use ocpulse_sim::{Station, StationConfig};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The address the pages use; commands are pointed at the test server instead.
const PAGE_ADDRESSES: [&str; 2] = ["127.0.0.1:8180", "localhost:8180"];

/// How long a GET that does not match yet is retried: what it reads may still be landing
/// (a record a `wait: false` trigger completes a few milliseconds later, a firmware rollout
/// whose simulated station takes about 5 s to install).
const SETTLE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_marked_example_answers_what_its_page_shows() {
    let update = std::env::var_os("DOCS_UPDATE").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        let lines: Vec<&str> = text.lines().collect();
        let found = match examples(&lines) {
            Ok(found) => found,
            Err(e) => {
                failures.push(format!("{}: {e}", page.display()));
                continue;
            }
        };
        if page == readme() {
            failures.extend(readme_rules(&lines, &found));
        }
        if found.is_empty() {
            continue;
        }
        let run = tokio::time::timeout(Duration::from_secs(60), run_page(&lines, &found, update))
            .await
            .unwrap_or_else(|_| panic!("{}: the examples took over 60 s", page.display()));
        failures.extend(run.diffs.iter().map(|d| format!("{}: {d}", page.display())));
        if let Some(new_text) = run.updated.filter(|new_text| *new_text != text) {
            std::fs::write(&page, new_text).expect("write page");
        }
    }
    assert!(
        failures.is_empty(),
        "the docs' examples no longer match the server (if the server is right, run \
         DOCS_UPDATE=1 cargo test -p ocpulse --test docs_examples and review the diff):\n{}",
        failures.join("\n")
    );
}

/// The top-level README: the first page a user reads, so it shows only what a user will
/// see (complaints were answers shown indented that curl prints on one line, and output
/// copied by hand).
fn readme() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// The README's own rules: every answer it shows is a marked example, and every example
/// pipes into `jq .`, so its layout and key order are what the reader gets.
fn readme_rules(lines: &[&str], found: &[Example]) -> Vec<String> {
    let mut failures: Vec<String> = unchecked_outputs(lines, found)
        .into_iter()
        .map(|i| {
            format!(
                "README.md: line {}: an answer shown without `<!-- example -->` before its command",
                i + 1
            )
        })
        .collect();
    for example in found {
        let command = lines[example.command.clone()].join("\n");
        if curl::parse(&command).is_ok_and(|r| !r.jq) {
            failures.push(format!(
                "README.md: line {}: a README example pipes into `jq .` (curl alone prints one line)",
                example.marker_line + 1
            ));
        }
    }
    failures
}

/// The README and every page of the manual.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    pages.insert(0, readme());
    pages
}

struct PageRun {
    /// The differences found (empty: the page is true), or in update mode what could not
    /// be updated.
    diffs: Vec<String>,
    /// In update mode, the page with what the server answered.
    updated: Option<String>,
}

/// Runs one page's examples against a fresh server and its two stations.
async fn run_page(lines: &[&str], found: &[Example], update: bool) -> PageRun {
    let server = Server::start().await;
    let stop = CancellationToken::new();
    let stations = [
        station(&server, "CP0001", ProtocolVersion::V16, &stop),
        station(&server, "CS0001", ProtocolVersion::V201, &stop),
    ];
    wait_ready(&server, "CP0001", 3).await;
    wait_ready(&server, "CS0001", 1).await;

    let client = reqwest::Client::new();
    let mut ids = Ids::new();
    let mut diffs = Vec::new();
    let mut replaced: Vec<(std::ops::Range<usize>, Vec<String>)> = Vec::new();
    let mut previous_was_write = false;
    for example in found {
        let written = lines[example.command.clone()].join("\n");
        let command = substitute(&written, &ids);
        let request = match curl::parse(&command) {
            Ok(r) => r,
            Err(e) => {
                diffs.push(format!("line {}: {e}", example.marker_line + 1));
                continue;
            }
        };
        let is_get = request.method == "GET";
        if update && is_get && previous_was_write {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        previous_was_write = !is_get;
        let shown = lines[example.output.clone()].join("\n");
        let expected: Option<Value> = serde_json::from_str(&shown).ok();
        let started = Instant::now();
        let (status, body, raw, example_diffs) = loop {
            let (status, body, raw) = send(&client, &server, &request).await;
            let mut example_diffs = status_diff(example.status, status);
            match &expected {
                Some(expected) => {
                    let mut learned = ids.clone();
                    compare(expected, &body, "$", &mut learned, &mut example_diffs);
                    if request.jq && example_diffs.is_empty() {
                        example_diffs.extend(jq_diffs(&shown, &raw));
                    }
                    if example_diffs.is_empty() || update {
                        ids = learned;
                    }
                }
                None => example_diffs.push("the page's json block does not parse".into()),
            }
            let settled = example_diffs.is_empty() || update || !is_get;
            if settled || started.elapsed() > SETTLE {
                break (status, body, raw, example_diffs);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if update {
            let pretty = match layout::jq(&raw) {
                Ok(text) if request.jq => text,
                _ => serde_json::to_string_pretty(&body).expect("json"),
            };
            replaced.push((
                example.output.clone(),
                pretty.lines().map(str::to_owned).collect(),
            ));
            if command != written {
                replaced.push((
                    example.command.clone(),
                    command.lines().map(str::to_owned).collect(),
                ));
            }
            if !status_diff(example.status, status).is_empty() {
                let marker = if status == 200 {
                    "<!-- example -->".to_owned()
                } else {
                    format!("<!-- example status={status} -->")
                };
                let line = example.marker_line;
                replaced.push((line..line + 1, vec![marker]));
            }
        } else {
            let command_line = written.lines().next().unwrap_or_default();
            diffs.extend(
                example_diffs
                    .into_iter()
                    .map(|d| format!("line {} ({command_line}): {d}", example.marker_line + 1)),
            );
        }
    }
    stop.cancel();
    for task in stations {
        let _ = task.await;
    }
    server.stop().await;

    if !update {
        return PageRun {
            diffs,
            updated: None,
        };
    }
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    replaced.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    for (range, new_lines) in replaced {
        out.splice(range, new_lines);
    }
    PageRun {
        diffs,
        updated: Some(out.join("\n") + "\n"),
    }
}

/// What differs between a block a page shows for `| jq .` and what jq prints for `raw`,
/// once the values match: the layout, and the order of the keys.
fn jq_diffs(shown: &str, raw: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    if layout::jq(shown).is_ok_and(|laid_out| laid_out != shown) {
        diffs.push("the page's block is not laid out as `jq .` prints it".into());
    }
    diffs.extend(layout::order_diff(shown, raw));
    diffs
}

/// Sends a page's request to the test server: (status, body as JSON or as a string, the
/// body as the server wrote it).
async fn send(
    client: &reqwest::Client,
    server: &Server,
    request: &curl::Request,
) -> (u16, Value, String) {
    let mut url = request.url.clone();
    for page_address in PAGE_ADDRESSES {
        url = url.replace(page_address, &server.addr.to_string());
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
    let mut builder = client.request(method, url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
    (status, body, text)
}

fn status_diff(expected: Option<u16>, actual: u16) -> Vec<String> {
    match expected {
        Some(code) if code != actual => vec![format!("HTTP {actual}, the page says {code}")],
        None if !(200..300).contains(&actual) => {
            vec![format!("HTTP {actual}, the page expects a success")]
        }
        _ => Vec::new(),
    }
}

/// Runs a simulated station until `stop`: 1.6 with two connectors, 2.0.1 with one EVSE.
fn station(
    server: &Server,
    id: &str,
    protocol: ProtocolVersion,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<impl Sized> {
    let mut cfg = StationConfig::new(id, protocol);
    if protocol == ProtocolVersion::V16 {
        cfg.evses = 2;
    }
    let options = Arc::new(RunOptions {
        url: format!("ws://{}/ocpp", server.addr),
        reconnect_min: Duration::from_millis(50),
        ..RunOptions::default()
    });
    tokio::spawn(run_station(
        Station::new(cfg, None),
        options,
        Arc::default(),
        stop.clone(),
        true,
    ))
}

/// Waits until a station is connected and has reported `connectors` connectors (generous:
/// the whole workspace's tests may be running on two cores).
async fn wait_ready(server: &Server, id: &str, connectors: usize) {
    for _ in 0..750 {
        let (code, body) = server.get(&format!("/api/v1/stations/{id}")).await;
        let reported = body["connectors"].as_array().map_or(0, Vec::len);
        if code == 200 && body["connected"] == Value::Bool(true) && reported >= connectors {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("station {id} never became ready");
}
