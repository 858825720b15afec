//! Starting and stopping a charging session and waiting for the station to do it: the
//! version's remote start / stop CALL goes through the station session's outbox
//! (`csms_call`, like `/calls`), then the wait follows the sessions the journal folds into
//! (`charging_sessions::updates`) until the station's StartTransaction / TransactionEvent
//! (or StopTransaction / Ended) shows the session, or the deadline passes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ocpp_rpc::ProtocolVersion;
use ocpulse_core::charging_session::{self, ChargingSession, StartWatch};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::app::App;
use crate::csms_call::{self, CallRefusal};
use crate::registry::CallOutcome;
use crate::trigger_service::Refusal;

/// What a start request asks for, already checked for shape by the API.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The station.
    pub station_id: String,
    /// The 2.x EVSE or 1.6 connector (the station picks when `None`).
    pub target: Option<i64>,
    /// The token to start with.
    pub id_token: String,
    /// 2.x `idToken.type` (default `Central`).
    pub id_token_type: Option<String>,
    /// How long the whole request may take.
    pub timeout: Duration,
}

/// How a start or stop ended.
#[derive(Debug)]
pub enum Ended {
    /// The station did it: the session as stored.
    Done(Box<ChargingSession>),
    /// The station answered, but not `Accepted`.
    Refused {
        /// The action sent.
        action: &'static str,
        /// Its answer.
        response: Value,
    },
    /// The station accepted, but the session did not start (stop: did not end) in time.
    NotSeen {
        /// The action sent.
        action: &'static str,
        /// Its answer.
        response: Value,
    },
    /// The call itself failed (CALLERROR, an invalid answer, silence, a disconnect).
    Call {
        /// The action sent.
        action: &'static str,
        /// How it ended.
        outcome: CallOutcome,
    },
}

/// The `remoteStartId`s handed out: seeded from the clock so a restarted server does not
/// repeat the last one's, kept within the schema's integer.
static REMOTE_START_ID: AtomicI64 = AtomicI64::new(0);

fn next_remote_start_id() -> i64 {
    let _ = REMOTE_START_ID.compare_exchange(
        0,
        (crate::now_ms() / 1000) % 1_000_000_000,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    REMOTE_START_ID.fetch_add(1, Ordering::Relaxed) % 2_000_000_000 + 1
}

/// The version a station speaks now, or last spoke (to check a payload before refusing a
/// disconnected station); an unknown station is refused.
fn protocol_of(app: &App, station_id: &str) -> Result<ProtocolVersion, CallRefusal> {
    let entry = app
        .stations
        .get(station_id)
        .ok_or_else(|| CallRefusal::Station(Refusal::UnknownStation(station_id.to_owned())))?;
    if let Some(session) = &entry.session {
        return Ok(session.protocol);
    }
    let last = entry
        .state
        .lock()
        .protocol
        .as_deref()
        .and_then(ProtocolVersion::from_subprotocol);
    last.ok_or_else(|| CallRefusal::Station(Refusal::NotConnected(station_id.to_owned())))
}

/// Starts a session: refusals (unknown or disconnected station, a payload the version's
/// schema refuses) come back before anything is sent.
pub async fn start(app: &Arc<App>, req: StartRequest) -> Result<Ended, CallRefusal> {
    let deadline = Instant::now() + req.timeout;
    let protocol = protocol_of(app, &req.station_id)?;
    let remote_start_id = next_remote_start_id();
    let (action, payload) = charging_session::remote_start(
        protocol.family(),
        req.target,
        &req.id_token,
        req.id_token_type.as_deref(),
        remote_start_id,
    );
    let session = csms_call::prepare(app, &req.station_id, action, &payload)?;
    // Listen first, then note where the journal stands: a session opened by a later entry
    // is this request's, and none is missed between the two.
    let mut updates = app.charging.updates.subscribe();
    let after_seq = app.store.journal_head().await.unwrap_or(0);
    let outcome = csms_call::send(&session, action, payload, call_timeout(app, req.timeout)).await;
    let response = match outcome {
        CallOutcome::Result(response) => response,
        outcome => return Ok(Ended::Call { action, outcome }),
    };
    if response.get("status").and_then(Value::as_str) != Some("Accepted") {
        return Ok(Ended::Refused { action, response });
    }
    let watch = StartWatch {
        station_id: req.station_id.clone(),
        after_seq,
        target: req.target,
        id_token: req.id_token.clone(),
        remote_start_id: protocol.is_v2().then_some(remote_start_id),
        transaction_id: response
            .get("transactionId")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let seen = wait_for(app, &mut updates, deadline, None, |s| watch.matches(s)).await;
    Ok(match seen {
        Some(session) => Ended::Done(Box::new(session)),
        None => Ended::NotSeen { action, response },
    })
}

/// Why a stop cannot be asked for.
#[derive(Debug)]
pub enum StopRefusal {
    /// The station cannot be called (or the payload would be refused).
    Call(CallRefusal),
    /// The session has ended already.
    AlreadyEnded(Box<ChargingSession>),
    /// The station now speaks a version that cannot name this transaction.
    Unstoppable(Box<ChargingSession>),
}

/// Stops an open session and waits for the station to end it.
pub async fn stop(
    app: &Arc<App>,
    session: ChargingSession,
    timeout: Duration,
) -> Result<Ended, StopRefusal> {
    let deadline = Instant::now() + timeout;
    let mut updates = app.charging.updates.subscribe();
    // Read again after subscribing: an end stored in between is not missed.
    let session = match crate::charging_sessions::get(app, &session.id).await {
        Ok(Some(s)) => s,
        _ => session,
    };
    if !session.active {
        return Err(StopRefusal::AlreadyEnded(Box::new(session)));
    }
    let protocol = protocol_of(app, &session.station_id).map_err(StopRefusal::Call)?;
    let Some((action, payload)) = charging_session::remote_stop(protocol.family(), &session) else {
        return Err(StopRefusal::Unstoppable(Box::new(session)));
    };
    let handle = csms_call::prepare(app, &session.station_id, action, &payload)
        .map_err(StopRefusal::Call)?;
    let outcome = csms_call::send(&handle, action, payload, call_timeout(app, timeout)).await;
    let response = match outcome {
        CallOutcome::Result(response) => response,
        outcome => return Ok(Ended::Call { action, outcome }),
    };
    if response.get("status").and_then(Value::as_str) != Some("Accepted") {
        return Ok(Ended::Refused { action, response });
    }
    let id = session.id.clone();
    let seen = wait_for(app, &mut updates, deadline, Some(&id), |s| {
        s.id == id && !s.active
    })
    .await;
    Ok(match seen {
        Some(session) => Ended::Done(Box::new(session)),
        None => Ended::NotSeen { action, response },
    })
}

/// How long the station has to answer the CALL: the server's call timeout, within the
/// request's own.
fn call_timeout(app: &App, timeout: Duration) -> Duration {
    timeout.min(app.config.call_timeout)
}

/// Waits for a stored session change that `wanted` picks, until `deadline`. A waiter that
/// fell behind the feed checks the open sessions, and the `stored` session (a stop's).
async fn wait_for(
    app: &App,
    updates: &mut tokio::sync::broadcast::Receiver<Arc<ChargingSession>>,
    deadline: Instant,
    stored: Option<&str>,
    wanted: impl Fn(&ChargingSession) -> bool,
) -> Option<ChargingSession> {
    loop {
        let received = tokio::time::timeout_at(deadline, updates.recv()).await;
        match received {
            Err(_) => return None,
            Ok(Ok(session)) if wanted(&session) => return Some((*session).clone()),
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => {
                if let Some(s) = app.charging.open().into_iter().find(|s| wanted(s)) {
                    return Some(s);
                }
                if let Some(id) = stored
                    && let Ok(Some(s)) = crate::charging_sessions::get(app, id).await
                    && wanted(&s)
                {
                    return Some(s);
                }
            }
            Ok(Err(RecvError::Closed)) => return None,
        }
    }
}
