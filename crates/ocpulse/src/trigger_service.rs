//! Starting a trigger, whoever asks: the HTTP trigger API, a bulk job, a schedule, a
//! freshness refresh or a liveness probe. Every refusal (unknown station, not connected,
//! a request the station's version cannot express) is decided here, once, as a `Refusal`
//! with a stable code and message: the API turns it into its HTTP error (`api::refusal`), and
//! a job's per-station result says exactly what the single-station API would have said.

use std::sync::Arc;
use std::time::Duration;

use ocpp_rpc::{PayloadKind, ProtocolVersion};
use ocpulse_core::rfc3339;
use ocpulse_core::trigger_plan::{self, TriggerRequest};
use ocpulse_core::trigger_record::{Outcome, RecordKind, TriggerRecord};
use serde_json::Value;
use tokio::time::Instant;

use crate::app::App;
use crate::now_ms;
use crate::trigger_run::TriggerRun;

/// Who asked and how long the trigger may take: everything about a trigger that is not the
/// OCPP request itself.
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    /// Kept in the record (`X-Requested-By`, or `job:<id>`, `schedule:<id>`, ...).
    pub requested_by: String,
    /// The request as the caller gave it, kept in the record.
    pub request_json: Value,
    /// How long the whole trigger may take.
    pub timeout: Duration,
    /// Store the record as it starts (for callers that do not wait for the end).
    pub store_start: bool,
}

/// Why a trigger cannot start. Each has a stable code (the API's `error`) and a message
/// saying what was wrong and what would be right (its `Display`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No station with this id has ever connected.
    #[error(
        "no station with id {0:?} has ever connected; GET /api/v1/stations lists the known ones"
    )]
    UnknownStation(String),
    /// The station is known but has no live connection now.
    #[error(
        "station {0:?} is known but not connected now; retry when it reconnects (see lastSeen on GET /api/v1/stations/{0})"
    )]
    NotConnected(String),
    /// The station's version (for a disconnected station, the one it last spoke) cannot
    /// express the request.
    #[error("{message}")]
    NotApplicable {
        /// The version that cannot express it.
        protocol: ProtocolVersion,
        /// Why, as the planner's stable code (`unknown_requested_message`, ...).
        code: &'static str,
        /// What was wrong and what would be right.
        message: String,
    },
    /// What should not happen (a planned payload that violates its own schema).
    #[error("{0}")]
    Internal(String),
}

impl Refusal {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownStation(_) => "station_not_found",
            Self::NotConnected(_) => "station_not_connected",
            Self::NotApplicable { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }
}

/// A trigger ready to run here, or on the cluster node that holds its station.
pub enum Prepared {
    /// The station's session is on this node.
    Local(Box<TriggerRun>),
    /// Another node holds the station: it plans and runs the trigger (`cluster::remote`).
    Remote(Box<RemoteTrigger>),
}

/// A trigger for a station another cluster node holds.
pub struct RemoteTrigger {
    /// That node.
    pub node: String,
    /// The station.
    pub station_id: String,
    /// The request, as the caller gave it.
    pub request: TriggerRequest,
    /// Who asked, and for how long.
    pub options: TriggerOptions,
}

/// Like [`prepare`], for callers that run triggers on the whole fleet (jobs): a station
/// another cluster node holds is run there, and answers as a local one would. It is planned
/// there too: this node's copy of a station held elsewhere is folded from the journal's
/// tail and may lag or miss entries (its connectors, its version), so planning it here
/// refused 2.0.1 stations `NotApplicable` (no connector reported yet) that their own node
/// would have triggered.
pub fn prepare_anywhere(
    app: &Arc<App>,
    station_id: &str,
    request: TriggerRequest,
    options: TriggerOptions,
    started: Instant,
) -> Result<Prepared, Refusal> {
    let entry = app.stations.get(station_id);
    let remote = entry.as_ref().and_then(|e| e.remote.clone());
    if let Some(node) = &remote
        && entry.as_ref().is_some_and(|e| e.session.is_none())
    {
        return Ok(Prepared::Remote(Box::new(RemoteTrigger {
            node: node.clone(),
            station_id: station_id.to_owned(),
            request,
            options,
        })));
    }
    match prepare(app, station_id, request.clone(), options.clone(), started) {
        Err(Refusal::NotConnected(_)) if let Some(node) = remote => {
            Ok(Prepared::Remote(Box::new(RemoteTrigger {
                node,
                station_id: station_id.to_owned(),
                request,
                options,
            })))
        }
        prepared => prepared.map(|run| Prepared::Local(Box::new(run))),
    }
}

/// Runs a prepared trigger to its stored record, here or on the station's node. A node
/// that has lost the station meanwhile refuses as this one would have.
pub async fn run_prepared(
    app: &Arc<App>,
    prepared: Prepared,
) -> Result<Arc<TriggerRecord>, Refusal> {
    match prepared {
        Prepared::Local(run) => Ok(crate::trigger_run::run(Arc::clone(app), *run).await),
        Prepared::Remote(remote) => {
            let RemoteTrigger {
                node,
                station_id,
                request,
                options,
            } = *remote;
            crate::cluster::remote::trigger(app, &node, &station_id, request, options).await
        }
    }
}

/// Plans a trigger for `station_id` and returns it ready to run, or why it cannot run: an
/// unknown station, a request the station's version cannot express (for a disconnected
/// station, the version it last spoke), or a station not connected.
pub fn prepare(
    app: &Arc<App>,
    station_id: &str,
    request: TriggerRequest,
    options: TriggerOptions,
    started: Instant,
) -> Result<TriggerRun, Refusal> {
    let entry = app
        .stations
        .get(station_id)
        .ok_or_else(|| Refusal::UnknownStation(station_id.to_owned()))?;
    let plan = |protocol: ProtocolVersion| {
        let state = entry.state.lock();
        trigger_plan::plan_all(protocol, &request, &state).map_err(|e| Refusal::NotApplicable {
            protocol,
            code: e.code,
            message: e.message,
        })
    };
    let Some(session) = entry.session.clone() else {
        // A request that could never run is told so now, not after the station is back:
        // it is checked against the version the station last spoke.
        let last = entry
            .state
            .lock()
            .protocol
            .as_deref()
            .and_then(ProtocolVersion::from_subprotocol);
        if let Some(protocol) = last {
            plan(protocol)?;
        }
        return Err(Refusal::NotConnected(station_id.to_owned()));
    };
    let plans = plan(session.protocol)?;
    for plan in &plans {
        app.schemas
            .validate(
                session.protocol,
                plan.action,
                PayloadKind::Request,
                &plan.payload,
            )
            .map_err(|e| Refusal::Internal(format!("planned payload violates its schema: {e}")))?;
    }
    let record = TriggerRecord {
        // Time-ordered, so stored records append at the end of their index.
        id: uuid::Uuid::now_v7().simple().to_string(),
        kind: RecordKind::Trigger,
        station_id: station_id.to_owned(),
        protocol: session.protocol.subprotocol().to_owned(),
        requested_by: options.requested_by,
        request: options.request_json,
        created_at: rfc3339(now_ms()),
        calls: Vec::new(),
        messages: Vec::new(),
        unmatched: Vec::new(),
        outcome: Outcome::Running,
        detail: None,
        complete: false,
        completed_at: None,
        elapsed_ms: None,
        certificate: None,
    };
    Ok(TriggerRun {
        record,
        plans,
        session,
        state: Arc::clone(&entry.state),
        timeout: options.timeout,
        started,
        store_start: options.store_start,
    })
}
