//! `ocpulse sessions`: charging sessions; list (filtered), show one, start one on a
//! station and stop one (each answered once the station did it), and watch one's energy
//! rise (docs/sessions.md).

use std::time::Duration;

use serde_json::{Value, json};

use super::http::{ClientArgs, encode, list_all};
use super::output::{cell, json as print_json, outcome, print_table};

/// `ocpulse sessions`.
#[derive(Debug, clap::Args)]
pub struct SessionsArgs {
    /// What to do (default: list).
    #[command(subcommand)]
    pub action: Option<SessionsAction>,
    /// Server and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `ocpulse sessions ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SessionsAction {
    /// List sessions, newest first.
    List {
        /// Only this station's sessions.
        #[arg(long)]
        station: Option<String>,
        /// Only open sessions.
        #[arg(long, conflicts_with = "ended")]
        active: bool,
        /// Only ended sessions.
        #[arg(long)]
        ended: bool,
        /// Only sessions started at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Only sessions started before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
    },
    /// One session with its meter timeline.
    Get {
        /// The session id.
        id: String,
    },
    /// Start a session on a station; prints it once the station started it.
    Start {
        /// The station id.
        station: String,
        /// The id token to charge with.
        #[arg(long)]
        id_token: String,
        /// The EVSE (2.0.1) or connector (1.6); the station picks when absent.
        #[arg(long)]
        evse: Option<i64>,
        /// 2.0.1 idToken type (default Central).
        #[arg(long)]
        id_token_type: Option<String>,
        /// How long to wait for the station to start it, in milliseconds.
        #[arg(long, default_value_t = 60_000)]
        timeout_ms: u64,
    },
    /// Stop a session; prints it with its final energy once the station ended it.
    Stop {
        /// The session id.
        id: String,
        /// How long to wait for the station to end it, in milliseconds.
        #[arg(long, default_value_t = 60_000)]
        timeout_ms: u64,
    },
    /// Print a session's energy and power as they change, until it ends or --for passes.
    Watch {
        /// The session id.
        id: String,
        /// Stop watching after this many seconds.
        #[arg(long = "for", default_value_t = 60)]
        for_secs: u64,
        /// Seconds between reads.
        #[arg(long, default_value_t = 1.0)]
        every: f64,
    },
}

const COLUMNS: [&str; 9] = [
    "SESSION", "STATION", "EVSE", "TOKEN", "STATE", "STARTED", "ENERGY", "POWER", "REASON",
];

/// `ocpulse sessions`.
pub async fn sessions(args: SessionsArgs) -> anyhow::Result<()> {
    let client = &args.client;
    match args.action.unwrap_or(SessionsAction::List {
        station: None,
        active: false,
        ended: false,
        from: None,
        to: None,
    }) {
        SessionsAction::List {
            station,
            active,
            ended,
            from,
            to,
        } => {
            let mut query: Vec<String> = Vec::new();
            if let Some(s) = station {
                query.push(format!("station={}", encode(&s)));
            }
            if active {
                query.push("active=true".into());
            }
            if ended {
                query.push("active=false".into());
            }
            for (k, v) in [("from", from), ("to", to)] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", encode(&v)));
                }
            }
            let path = if query.is_empty() {
                "/api/v1/sessions".to_owned()
            } else {
                format!("/api/v1/sessions?{}", query.join("&"))
            };
            let list = list_all(client, &path).await?;
            if client.json {
                return print_json(&json!({"items": list, "next": null}));
            }
            let rows: Vec<Vec<String>> = list.iter().map(row).collect();
            print_table(&COLUMNS, &rows);
            Ok(())
        }
        SessionsAction::Get { id } => {
            let s = client
                .get(&format!("/api/v1/sessions/{}", encode(&id)))
                .await?;
            show(client, &s, true)
        }
        SessionsAction::Start {
            station,
            id_token,
            evse,
            id_token_type,
            timeout_ms,
        } => {
            let mut body = json!({"idToken": id_token, "timeoutMs": timeout_ms});
            if let Some(e) = evse {
                body["evseId"] = json!(e);
            }
            if let Some(t) = id_token_type {
                body["idTokenType"] = json!(t);
            }
            let s = client
                .post(
                    &format!("/api/v1/stations/{}/sessions", encode(&station)),
                    Some(body),
                )
                .await?;
            show(client, &s, false)
        }
        SessionsAction::Stop { id, timeout_ms } => {
            let s = client
                .post(
                    &format!("/api/v1/sessions/{}/stop", encode(&id)),
                    Some(json!({"timeoutMs": timeout_ms})),
                )
                .await?;
            show(client, &s, false)
        }
        SessionsAction::Watch {
            id,
            for_secs,
            every,
        } => watch(client, &id, for_secs, every).await,
    }
}

/// Reads the session every `every` seconds and prints a line whenever it changed, until
/// it ends or `for_secs` pass.
async fn watch(client: &ClientArgs, id: &str, for_secs: u64, every: f64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(for_secs);
    let pause = Duration::from_secs_f64(every.clamp(0.1, 3600.0));
    let path = format!("/api/v1/sessions/{}", encode(id));
    let mut last: Option<Value> = None;
    loop {
        let s = client.get(&path).await?;
        if last.as_ref().map(|l| &l["updatedAt"]) != Some(&s["updatedAt"]) {
            if client.json {
                crate::stdout::line(&serde_json::to_string(&s)?);
            } else {
                crate::stdout::line(&format!(
                    "{}  {}  energy {}  power {}{}",
                    cell(&s["updatedAt"]),
                    outcome(state(&s)),
                    wh(&s["energyWh"]),
                    watts(&s["powerW"]),
                    match s["stopReason"].as_str() {
                        Some(r) => format!("  stopped: {r}"),
                        None => String::new(),
                    }
                ));
            }
        }
        let ended = s["active"] == json!(false);
        last = Some(s);
        if ended || tokio::time::Instant::now() + pause > deadline {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
    }
}

fn show(client: &ClientArgs, s: &Value, timeline: bool) -> anyhow::Result<()> {
    if client.json {
        return print_json(s);
    }
    print_table(&COLUMNS, &[row(s)]);
    if timeline && let Some(points) = s["timeline"].as_array() {
        let rows: Vec<Vec<String>> = points
            .iter()
            .map(|p| {
                vec![
                    cell(&p["timestamp"]),
                    wh(&p["energyWh"]),
                    watts(&p["powerW"]),
                ]
            })
            .collect();
        crate::stdout::line("");
        print_table(&["READING", "REGISTER", "POWER"], &rows);
    }
    Ok(())
}

fn state(s: &Value) -> &'static str {
    if s["active"] == json!(true) {
        "active"
    } else {
        "ended"
    }
}

fn row(s: &Value) -> Vec<String> {
    let target = match (s["evseId"].as_i64(), s["connectorId"].as_i64()) {
        (Some(e), _) => e.to_string(),
        (None, Some(c)) => c.to_string(),
        _ => "-".into(),
    };
    vec![
        cell(&s["id"]),
        cell(&s["stationId"]),
        target,
        cell(&s["idToken"]),
        outcome(state(s)),
        cell(&s["startedAt"]),
        wh(&s["energyWh"]),
        watts(&s["powerW"]),
        cell(&s["stopReason"]),
    ]
}

/// Energy in Wh, as kWh with three decimals.
fn wh(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |w| format!("{:.3} kWh", w / 1000.0))
}

/// Power in W, as kW with one decimal.
fn watts(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |w| format!("{:.1} kW", w / 1000.0))
}
