//! Fleet work for stations held by other nodes: the leader's bulk jobs (and freshness
//! targets, firmware rollouts) hand each such station's trigger or call to its node over
//! NATS request/reply, and that node plans, sends and records it as for a local station
//! (`trigger_service`, `call_run`), answering with the record, or with the refusal a local
//! station would have got.

use std::sync::Arc;
use std::time::Duration;

use ocpp_rpc::ProtocolVersion;
use ocpulse_core::trigger_plan::TriggerRequest;
use ocpulse_core::trigger_record::TriggerRecord;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::bus::Bus;
use crate::app::App;
use crate::trigger_service::{self, Refusal, TriggerOptions};

/// Time for the hop on top of the trigger's own timeout.
const HOP: Duration = Duration::from_secs(10);

/// A trigger one node asks another to run.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerAsk {
    station_id: String,
    request: TriggerRequest,
    requested_by: String,
    request_json: serde_json::Value,
    timeout_ms: u64,
    store_start: bool,
}

/// Its answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
enum TriggerAnswer {
    /// It ran: the record, as stored.
    Ran { record: Box<TriggerRecord> },
    /// It was refused: the refusal's parts.
    Refused {
        code: String,
        message: String,
        protocol: Option<String>,
    },
}

fn subject(bus: &Bus, node: &str) -> String {
    format!("{}.node.{node}.trigger", bus.name)
}

fn refusal_of(code: &str, message: String, protocol: Option<&str>, station: &str) -> Refusal {
    match code {
        "station_not_found" => Refusal::UnknownStation(station.to_owned()),
        "station_not_connected" => Refusal::NotConnected(station.to_owned()),
        "internal" => Refusal::Internal(message),
        other => match protocol.and_then(ProtocolVersion::from_subprotocol) {
            Some(protocol) => Refusal::NotApplicable {
                protocol,
                code: ocpulse_core::trigger_plan::stable_code(other),
                message,
            },
            None => Refusal::Internal(message),
        },
    }
}

/// Runs a trigger on `node`, the node that holds `station_id`. A node that does not answer
/// (gone since) leaves the station not connected, as it then is.
pub async fn trigger(
    app: &Arc<App>,
    node: &str,
    station_id: &str,
    request: TriggerRequest,
    options: TriggerOptions,
) -> Result<Arc<TriggerRecord>, Refusal> {
    let Some(bus) = app.cluster.bus() else {
        return Err(Refusal::NotConnected(station_id.to_owned()));
    };
    let ask = TriggerAsk {
        station_id: station_id.to_owned(),
        request,
        requested_by: options.requested_by,
        request_json: options.request_json,
        timeout_ms: u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
        store_start: options.store_start,
    };
    let payload = serde_json::to_vec(&ask).map_err(|e| Refusal::Internal(e.to_string()))?;
    let answer = bus
        .client
        .send_request(
            subject(bus, node),
            async_nats::Request::new()
                .payload(payload.into())
                .timeout(Some(options.timeout + HOP)),
        )
        .await;
    let message = match answer {
        Ok(message) => message,
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
            return Err(Refusal::NotConnected(station_id.to_owned()));
        }
        Err(e) => {
            return Err(Refusal::Internal(format!(
                "node {node:?}, which holds the station, did not answer: {e}"
            )));
        }
    };
    match serde_json::from_slice::<TriggerAnswer>(&message.payload) {
        Ok(TriggerAnswer::Ran { record }) => Ok(Arc::new(*record)),
        Ok(TriggerAnswer::Refused {
            code,
            message,
            protocol,
        }) => Err(refusal_of(&code, message, protocol.as_deref(), station_id)),
        Err(e) => Err(Refusal::Internal(format!(
            "node {node:?} answered unreadably: {e}"
        ))),
    }
}

/// Serves the triggers other nodes ask this one to run.
pub async fn serve(app: &Arc<App>, bus: &Arc<Bus>) -> anyhow::Result<()> {
    let serving = Arc::clone(app);
    super::bus::respond(app, bus, subject(bus, &bus.node_id), move |request| {
        let app = Arc::clone(&serving);
        async move {
            let answer = match serde_json::from_slice::<TriggerAsk>(&request.payload) {
                Ok(ask) => run(&app, ask).await,
                Err(e) => TriggerAnswer::Refused {
                    code: "internal".into(),
                    message: format!("unreadable trigger request: {e}"),
                    protocol: None,
                },
            };
            serde_json::to_vec(&answer).ok()
        }
    })
    .await
}

async fn run(app: &Arc<App>, ask: TriggerAsk) -> TriggerAnswer {
    let options = TriggerOptions {
        requested_by: ask.requested_by,
        request_json: ask.request_json,
        timeout: Duration::from_millis(ask.timeout_ms),
        store_start: ask.store_start,
    };
    match trigger_service::prepare(app, &ask.station_id, ask.request, options, Instant::now()) {
        Ok(run) => TriggerAnswer::Ran {
            record: Box::new((*crate::trigger_run::run(Arc::clone(app), run).await).clone()),
        },
        Err(refusal) => TriggerAnswer::Refused {
            code: refusal.code().to_owned(),
            message: refusal.to_string(),
            protocol: match &refusal {
                Refusal::NotApplicable { protocol, .. } => Some(protocol.subprotocol().to_owned()),
                _ => None,
            },
        },
    }
}

/// A CSMS call (a job's step) one node asks another to send.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallAsk {
    station_id: String,
    action: String,
    payload: serde_json::Value,
    requested_by: String,
    timeout_ms: u64,
}

/// Its answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
enum CallAnswer {
    /// It was sent: the record, as stored.
    Sent { record: Box<TriggerRecord> },
    /// It was refused: the refusal's code (`station_not_connected`, ...) and message.
    Refused { code: String, message: String },
}

/// How a call handed to another node ended.
pub enum RemoteCall {
    /// Its record, as the holder stored it.
    Sent(Arc<TriggerRecord>),
    /// The holder refused it (the code and message a local refusal has).
    Refused {
        /// The stable code.
        code: String,
        /// What was wrong.
        message: String,
    },
}

fn call_subject(bus: &Bus, node: &str) -> String {
    format!("{}.node.{node}.call", bus.name)
}

/// Sends a call through `node`, the node that holds `station_id`.
pub async fn call(
    app: &Arc<App>,
    node: &str,
    station_id: &str,
    action: &str,
    payload: serde_json::Value,
    options: &crate::call_run::CallOptions,
) -> RemoteCall {
    let not_connected = || RemoteCall::Refused {
        code: "station_not_connected".into(),
        message: Refusal::NotConnected(station_id.to_owned()).to_string(),
    };
    let Some(bus) = app.cluster.bus() else {
        return not_connected();
    };
    let ask = CallAsk {
        station_id: station_id.to_owned(),
        action: action.to_owned(),
        payload,
        requested_by: options.requested_by.clone(),
        timeout_ms: u64::try_from(options.timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let Ok(body) = serde_json::to_vec(&ask) else {
        return not_connected();
    };
    let answer = bus
        .client
        .send_request(
            call_subject(bus, node),
            async_nats::Request::new()
                .payload(body.into())
                .timeout(Some(options.timeout + HOP)),
        )
        .await;
    match answer {
        Ok(message) => match serde_json::from_slice::<CallAnswer>(&message.payload) {
            Ok(CallAnswer::Sent { record }) => RemoteCall::Sent(Arc::new(*record)),
            Ok(CallAnswer::Refused { code, message }) => RemoteCall::Refused { code, message },
            Err(e) => RemoteCall::Refused {
                code: "internal".into(),
                message: format!("node {node:?} answered unreadably: {e}"),
            },
        },
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => not_connected(),
        Err(e) => RemoteCall::Refused {
            code: "internal".into(),
            message: format!("node {node:?}, which holds the station, did not answer: {e}"),
        },
    }
}

/// Serves the calls other nodes ask this one to send.
pub async fn serve_calls(app: &Arc<App>, bus: &Arc<Bus>) -> anyhow::Result<()> {
    let serving = Arc::clone(app);
    super::bus::respond(app, bus, call_subject(bus, &bus.node_id), move |request| {
        let app = Arc::clone(&serving);
        async move {
            let answer = match serde_json::from_slice::<CallAsk>(&request.payload) {
                Ok(ask) => send_call(&app, ask).await,
                Err(e) => CallAnswer::Refused {
                    code: "internal".into(),
                    message: format!("unreadable call request: {e}"),
                },
            };
            serde_json::to_vec(&answer).ok()
        }
    })
    .await
}

async fn send_call(app: &Arc<App>, ask: CallAsk) -> CallAnswer {
    let options =
        crate::call_run::CallOptions::new(ask.requested_by, Duration::from_millis(ask.timeout_ms));
    match crate::call_run::prepare(
        app,
        &ask.station_id,
        &ask.action,
        ask.payload,
        options,
        Instant::now(),
    ) {
        Ok(run) => CallAnswer::Sent {
            record: Box::new((*crate::call_run::run(Arc::clone(app), run).await.record).clone()),
        },
        Err(refusal) => CallAnswer::Refused {
            code: refusal.code().to_owned(),
            message: refusal.to_string(),
        },
    }
}
