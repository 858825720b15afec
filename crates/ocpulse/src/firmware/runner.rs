//! One rollout's task: read the stations' reports from the committed journal, take in the
//! answers of the CALLs it sent, let the core decide what to do (`Rollout::step`), do it,
//! and store the rollout when it changed. It ends when every station has ended.

use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::firmware::rollout::Action;
use ocpulse_core::firmware::{PROGRESS_ACTIONS, UpdateCall};
use ocpulse_core::journal::JournalScan;
use ocpulse_core::rfc3339;
use ocpulse_core::store::Doc;
use ocpulse_core::trigger_plan::TriggerRequest;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{KIND, Running};
use crate::app::App;
use crate::call_run::{self, CallOptions};
use crate::now_ms;
use crate::registry::CallOutcome;
use crate::trigger_service::{self, TriggerOptions};

/// Entries read per journal page.
const PAGE: usize = 500;
/// How often the journal is read and the timers checked.
const TICK: Duration = Duration::from_millis(250);
/// A running rollout is stored at most this often (and at every stage change and its end).
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// A CALL's end, reported back to the loop by the task that sent it.
struct CallDone {
    index: usize,
    result: Result<CallOutcome, String>,
}

pub(super) async fn run(app: &Arc<App>, task: &Running) {
    let (tx, mut rx) = mpsc::unbounded_channel::<CallDone>();
    let mut in_flight = 0usize;
    let mut saved = String::new();
    let mut saved_stage = None;
    let mut saved_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        read_reports(app, task).await;
        while let Ok(done) = rx.try_recv() {
            in_flight -= 1;
            take_answer(task, done);
        }
        let now = now_ms();
        let actions = task.rollout.lock().step(now);
        let mut outgoing = Vec::new();
        for action in actions {
            match action {
                Action::Send(i) => outgoing.extend(prepare_send(app, task, i, now)),
                Action::AskStatus(i) => ask_status(app, task, i, now),
            }
        }
        if !outgoing.is_empty() {
            // Stored as sent before anything goes out: a restart never sends twice.
            save(app, task).await;
            for send in outgoing {
                in_flight += 1;
                spawn_send(app, send, &tx);
            }
        }
        let (finished, stage, body) = {
            let r = task.rollout.lock();
            (r.finished(), r.stage, serde_json::to_string(&*r))
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "a firmware rollout does not serialize");
                String::new()
            }
        };
        if body != saved
            && (finished
                || saved_stage != Some(stage)
                || saved_at.is_none_or(|t| t.elapsed() >= SAVE_EVERY))
            && save(app, task).await
        {
            saved.clone_from(&body);
            saved_stage = Some(stage);
            saved_at = Some(Instant::now());
        }
        if finished && in_flight == 0 && body == saved {
            let id = task.rollout.lock().id.clone();
            tracing::info!(rollout = %id, stage = ?stage, "firmware rollout finished");
            return;
        }
        tokio::select! {
            () = app.shutdown.cancelled() => {
                // The next start resumes it from what is stored now.
                save(app, task).await;
                return;
            }
            Some(done) = rx.recv() => {
                in_flight -= 1;
                take_answer(task, done);
            }
            () = task.wake.notified() => {}
            _ = tick.tick() => {}
        }
    }
}

/// Folds the reports committed since the rollout last read, up to the journal's head.
async fn read_reports(app: &App, task: &Running) {
    let head = match app.store.journal_head().await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "firmware rollout: journal unreadable; retrying");
            return;
        }
    };
    loop {
        let after = task.rollout.lock().seq;
        if after >= head {
            return;
        }
        let page = app
            .store
            .journal_scan(JournalScan {
                actions: PROGRESS_ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
                station_calls_only: true,
                after_seq: after,
                until_seq: Some(head),
                limit: PAGE,
                ..JournalScan::default()
            })
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "firmware rollout: journal unreadable; retrying");
                return;
            }
        };
        let mut r = task.rollout.lock();
        for entry in &page {
            r.observe(entry);
        }
        if page.len() < PAGE {
            // Nothing more up to the head: no need to scan those entries again.
            r.seq = r.seq.max(head);
            return;
        }
    }
}

fn take_answer(task: &Running, done: CallDone) {
    let now = now_ms();
    let mut r = task.rollout.lock();
    let Some(station) = r.stations.get_mut(done.index) else {
        return;
    };
    match done.result {
        Ok(CallOutcome::Result(response)) => station.answered(&response, now),
        Ok(CallOutcome::Error {
            code, description, ..
        }) => {
            station.call_failed(
                format!("the station answered with a CALLERROR {code}: {description}"),
                now,
            );
        }
        Ok(CallOutcome::InvalidResponse { violation, .. }) => {
            station.call_failed(
                format!("the station's answer violates the schema: {violation}"),
                now,
            );
        }
        Ok(CallOutcome::Timeout) => {
            station.call_failed("the station did not answer in time".into(), now)
        }
        Ok(CallOutcome::Disconnected) => {
            station.call_failed("the station disconnected before it answered".into(), now);
        }
        Err(refused) => station.call_failed(refused, now),
    }
}

/// An update about to be sent to one station.
struct Outgoing {
    index: usize,
    station_id: String,
    action: &'static str,
    payload: serde_json::Value,
    requested_by: String,
}

/// Marks one station sent and says what to send it; `None` when it is not connected (it
/// is skipped).
fn prepare_send(app: &App, task: &Running, index: usize, now: i64) -> Option<Outgoing> {
    let mut r = task.rollout.lock();
    let requested_by = format!("firmware:{}", r.id);
    let ask = r.firmware.clone();
    let station = r.stations.get_mut(index)?;
    let station_id = station.station_id.clone();
    let Some(session) = app.stations.get(&station_id).and_then(|e| e.session) else {
        station.skip(
            "not connected when its turn came; start a rollout for it once it is back",
            now,
        );
        return None;
    };
    let call = UpdateCall::for_station(session.protocol.family(), ask.signed());
    let request_id = (call != UpdateCall::UpdateFirmware16).then(fresh_request_id);
    let payload = call.payload(&ask, request_id.unwrap_or(0), &rfc3339(now));
    station.sent(call, request_id, now);
    Some(Outgoing {
        index,
        station_id,
        action: call.action(),
        payload,
        requested_by,
    })
}

/// Sends one update as a recorded call; its end comes back through `tx`.
fn spawn_send(app: &Arc<App>, send: Outgoing, tx: &mpsc::UnboundedSender<CallDone>) {
    let (app, tx) = (Arc::clone(app), tx.clone());
    let options = CallOptions::new(send.requested_by, app.config.call_timeout);
    tokio::spawn(async move {
        let result = call_run::call(&app, &send.station_id, send.action, send.payload, options)
            .await
            .map(|ended| ended.outcome)
            .map_err(|refused| refused.to_string());
        // The loop may have ended (shutdown); the next start follows the station anyway.
        let _ = tx.send(CallDone {
            index: send.index,
            result,
        });
    });
}

/// Asks a quiet station for its firmware status with a trigger; its answer arrives in the
/// journal like any report (the trigger is recorded as `firmware:<rollout>`).
fn ask_status(app: &Arc<App>, task: &Running, index: usize, now: i64) {
    let (rollout_id, station_id) = {
        let mut r = task.rollout.lock();
        let id = r.id.clone();
        let Some(station) = r.stations.get_mut(index) else {
            return;
        };
        if !station.triggered(now) {
            return;
        }
        (id, station.station_id.clone())
    };
    let request = TriggerRequest {
        requested_message: "FirmwareStatusNotification".into(),
        ..TriggerRequest::default()
    };
    let options = TriggerOptions {
        requested_by: format!("firmware:{rollout_id}"),
        request_json: json!({"requestedMessage": "FirmwareStatusNotification"}),
        timeout: app.config.call_timeout,
        store_start: false,
    };
    // In a cluster, a station held by another node is asked there.
    match trigger_service::prepare_anywhere(app, &station_id, request, options, Instant::now()) {
        Ok(run) => {
            let app = Arc::clone(app);
            tokio::spawn(async move { trigger_service::run_prepared(&app, run).await });
        }
        // Rebooting into the new image, most likely: its boot or a later ask will tell.
        Err(refusal) => {
            tracing::debug!(station = %station_id, %refusal, "firmware status not asked")
        }
    }
}

async fn save(app: &App, task: &Running) -> bool {
    let doc = {
        let r = task.rollout.lock();
        Doc::put(KIND, r.id.clone(), &*r)
    };
    let stored = match doc {
        Ok(doc) => app.store.save_docs(vec![doc]).await,
        Err(e) => Err(e),
    };
    match stored {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not store a firmware rollout; retrying");
            false
        }
    }
}

/// A requestId for one update: random, positive, fits OCPP's integer.
fn fresh_request_id() -> i64 {
    let b = uuid::Uuid::now_v7().into_bytes();
    i64::from(u32::from_be_bytes([b[12], b[13], b[14], b[15]]) >> 1)
}
