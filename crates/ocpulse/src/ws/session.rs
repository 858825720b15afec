//! One station connection's I/O: the only code that reads and writes its socket. It moves
//! frames between the socket and the sans-IO `ServerSession` (which decides everything),
//! runs the session's timers and commits, and carries CSMS CALLs in and their ends out.
//!
//! Commits are awaited in the order they were asked for, so station CALLs are answered in
//! arrival order; while one runs, the loop keeps reading, so an answer to a CSMS CALL never
//! waits behind a commit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};
use ocpp_rpc::ProtocolVersion;
use ocpulse_core::session::{Caller, CsmsCall, Now, Output, ServerSession};
use ocpulse_core::store::StoreError;
use tokio::sync::{mpsc, oneshot};

use crate::app::App;
use crate::registry::{CallEnd, CallRequest};

/// The API caller waiting for a CSMS CALL.
struct Reply(oneshot::Sender<CallEnd>);

impl Caller for Reply {
    fn wanted(&self) -> bool {
        !self.0.is_closed()
    }
}

/// The close reason (and the journaled disconnect reason) when the server stops.
const SHUTTING_DOWN: &str = "the CSMS is shutting down";

/// Why a draining cluster node closes a connection (code 1012, service restart): the
/// station reconnects at once, and the load balancer sends it to another node.
const DRAINING: &str = "this CSMS node is draining; reconnect";
/// How long sending a close frame may take before the socket is just dropped.
const CLOSE_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

type Commit = Pin<Box<dyn Future<Output = (u64, Result<(), StoreError>)> + Send>>;

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: crate::now_ms(),
    }
}

/// Runs a station connection until it closes or a newer connection replaces it.
pub async fn run(app: Arc<App>, station_id: String, protocol: ProtocolVersion, socket: WebSocket) {
    let (calls_tx, mut calls) = mpsc::unbounded_channel::<Box<CallRequest>>();
    let cancel = tokio_util::sync::CancellationToken::new();
    let (state, generation) = app
        .stations
        .connect(&station_id, protocol, calls_tx, cancel.clone());
    let _counted = app.metrics.station_connected(protocol.subprotocol());
    tracing::info!(%protocol, generation, "station connected");
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let mut session: ServerSession<Reply> = ServerSession::new(
        Arc::clone(&app.session_env),
        station_id.clone(),
        protocol,
        state,
        &prefix[..12],
    );
    session.on_connect(generation, now());
    crate::cluster::claimed(&app, &station_id, generation, protocol.subprotocol());
    let (mut sink, mut stream) = socket.split();
    let mut commits: FuturesOrdered<Commit> = FuturesOrdered::new();
    let ping_every = Some(app.config.ws_ping_interval).filter(|d| !d.is_zero());
    let mut last_heard = Instant::now();
    let mut next_ping = ping_every.map(|every| last_heard + every);
    let mut close_reason = None;
    // At shutdown: until when a busy session may finish its CSMS CALLs and triggers
    // before it closes anyway (half the stop's wait, leaving time to close and journal).
    let mut draining: Option<Instant> = None;
    // A draining cluster node: when this connection's turn to close comes (the closes are
    // spread over --drain-time), it closes as soon as it is idle.
    let mut drain_turn: Option<Instant> = None;
    let mut drain_reason = SHUTTING_DOWN;
    'conn: loop {
        for output in session.poll(now()) {
            if let Some(text) = perform(&app, protocol, output, &mut commits)
                && sink.send(Message::Text(text.into())).await.is_err()
            {
                break 'conn;
            }
        }
        if draining.is_some() && session.is_idle() && commits.is_empty() {
            close_reason = Some(drain_reason);
            break 'conn;
        }
        let deadline = session.next_deadline();
        tokio::select! {
            // A socket can stay open after the station is gone (a cut cable sends no FIN):
            // ping a quiet station, and give up when even pings go unanswered.
            () = sleep_until(next_ping), if next_ping.is_some() => {
                let every = ping_every.unwrap_or_default();
                if last_heard.elapsed() >= every * 3 {
                    tracing::warn!("no frame or pong for {:?}; closing a dead connection", every * 3);
                    close_reason = Some("no answer to pings");
                    break 'conn;
                }
                if last_heard.elapsed() >= every && sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break 'conn;
                }
                next_ping = Some(Instant::now() + every);
            }
            () = cancel.cancelled() => {
                close_reason = Some("replaced by a newer connection of the same station");
                break 'conn;
            }
            () = app.shutdown.cancelled(), if draining.is_none() => {
                let waits = crate::server::session_wait(app.config.shutdown_timeout);
                draining = Some(Instant::now() + waits / 2);
            }
            () = app.cluster.drain.started(), if drain_turn.is_none() && draining.is_none() => {
                drain_turn = Some(Instant::now() + app.cluster.drain.turn(generation));
            }
            () = sleep_until(drain_turn), if drain_turn.is_some() && draining.is_none() => {
                // Its turn: it closes once its CSMS CALLs and triggers are done (bounded).
                drain_reason = DRAINING;
                draining = Some(Instant::now() + crate::cluster::drain::IDLE_WAIT);
            }
            () = sleep_until(draining), if draining.is_some() => {
                tracing::warn!("closing with CSMS CALLs or triggers still running");
                close_reason = Some(drain_reason);
                break 'conn;
            }
            message = stream.next() => match message.inspect(|_| last_heard = Instant::now()) {
                Some(Ok(Message::Text(text))) => session.on_text(text.as_str(), now()),
                Some(Ok(Message::Binary(_))) => session.on_binary(now()),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => session.on_pong(now()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break 'conn,
            },
            Some(call) = calls.recv() => {
                let CallRequest { action, payload, timeout, reply, watch, redact } = *call;
                session.push_call(CsmsCall { action, payload, timeout, caller: Reply(reply), watch, redact }, now());
            }
            Some((id, result)) = commits.next(), if !commits.is_empty() => {
                if let Err(e) = &result {
                    tracing::error!(error = %e, "could not commit a station CALL; answering InternalError so it retries");
                }
                session.on_committed(id, result, now());
            }
            () = sleep_until(deadline), if deadline.is_some() => {}
        }
    }
    if let Some(reason) = close_reason {
        // 1001 (going away) tells the station the server itself stops, so it reconnects
        // later; a station that does not read cannot hold the stop up.
        let code = match reason {
            SHUTTING_DOWN => 1001,
            DRAINING => 1012,
            _ => 1000,
        };
        let close = sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
        let _ = tokio::time::timeout(CLOSE_SEND_TIMEOUT, close).await;
    }
    let reason = close_reason.unwrap_or("connection closed");
    for output in session.on_close(generation, reason, now()) {
        // Nothing more is sent; writes and callers still get theirs.
        drop(perform(&app, protocol, output, &mut commits));
    }
    app.stations.disconnect(&station_id, generation);
    crate::cluster::released(&app, &station_id, generation);
    tracing::info!(generation, "station disconnected");
}

/// Carries out one output; returns the text to send, if it is one.
fn perform(
    app: &App,
    protocol: ProtocolVersion,
    output: Output<Reply>,
    commits: &mut FuturesOrdered<Commit>,
) -> Option<String> {
    let count = |batch: &ocpulse_core::store::WriteBatch| {
        app.metrics.batch(protocol.subprotocol(), batch, |action| {
            app.schemas.knows(protocol, action)
        });
    };
    match output {
        Output::Send(text) => return Some(text),
        Output::Write(batch) => {
            count(&batch);
            app.store.enqueue(batch);
        }
        Output::Commit { id, batch } => {
            count(&batch);
            let asked = Instant::now();
            let commit = app.store.commit(batch);
            let metrics = Arc::clone(&app.metrics);
            commits.push_back(Box::pin(async move {
                let result = commit.await;
                metrics.commit_took(asked.elapsed());
                (id, result)
            }));
        }
        Output::Ended {
            caller,
            outcome,
            collected,
        } => {
            app.metrics.call_ended(protocol.subprotocol(), &outcome);
            let _ = caller.0.send(CallEnd { outcome, collected });
        }
    }
    None
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
