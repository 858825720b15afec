//! Runs one trigger from start to record: sends each planned call (one at a time), retries
//! a 1.6 NotImplemented with ExtendedTriggerMessage where the extension has the message,
//! collects the station messages that answer it, names the outcome, learns the station's
//! capability, and stores the record. The HTTP API awaits it (`"wait": true`) or spawns it.

use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::projection::{TRIGGER_COMPLETED, TriggerCompleted};
use ocpulse_core::session::{Collected, MatchedMessage, TriggerWatch};
use ocpulse_core::store::WriteBatch;
use ocpulse_core::trigger_plan::{self, TriggerPlan};
use ocpulse_core::trigger_record::{CorrelatedMessage, Outcome, SentCall, TriggerRecord};
use ocpulse_core::{JournalEntry, Millis, rfc3339};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::app::App;
use crate::now_ms;
use crate::registry::{CallEnd, CallOutcome, CallRequest, SessionHandle};

/// A trigger ready to run.
pub struct TriggerRun {
    /// The record so far (outcome Running).
    pub record: TriggerRecord,
    /// The calls to send, in order.
    pub plans: Vec<TriggerPlan>,
    /// The station's live session.
    pub session: SessionHandle,
    /// The station's state, to learn its capability.
    pub state: ocpulse_core::store::SharedStation,
    /// How long the whole trigger may take.
    pub timeout: Duration,
    /// When the caller asked.
    pub started: Instant,
    /// Store the record as it starts, not only as it ends: for a caller that did not wait,
    /// so a restart marks it `Interrupted` instead of losing it. A waiting caller hears the
    /// outcome itself, and the extra write costs every trigger.
    pub store_start: bool,
}

/// The trigger's one journal entry, `TriggerCompleted`, at `at`.
fn completed(record: &TriggerRecord, payload: &TriggerCompleted, at: Millis) -> JournalEntry {
    JournalEntry::trigger_event(
        &record.station_id,
        &record.id,
        TRIGGER_COMPLETED,
        // Plain structs of strings and `Value`s always serialize.
        serde_json::to_string(payload).unwrap_or_default(),
        at,
    )
}

fn publish(app: &App, record: &Arc<TriggerRecord>) {
    app.running.lock().put(Arc::clone(record));
}

/// What one call ended with.
struct CallOutcomeEnd {
    outcome: Outcome,
    complete: bool,
}

/// Runs the trigger to its end and returns the final record (also stored, and held in
/// memory until the store surely has it: the three share one copy).
pub async fn run(app: Arc<App>, run: TriggerRun) -> Arc<TriggerRecord> {
    let TriggerRun {
        mut record,
        plans,
        session,
        state,
        timeout,
        started,
        store_start,
    } = run;
    let deadline = started + timeout;
    let first = Arc::new(record.clone());
    publish(&app, &first);
    // A trigger is journaled once, as it ends (its frames carry its id meanwhile). A caller
    // that does not wait gets its record stored now, so a restart marks it `Interrupted`.
    if store_start {
        app.store.enqueue(WriteBatch {
            triggers: vec![first],
            ..WriteBatch::default()
        });
    }
    let mut ends = Vec::new();
    let mut accepted_by = None;
    for plan in &plans {
        let end = run_call(
            &session,
            &mut record,
            plan,
            deadline,
            started,
            &mut accepted_by,
        )
        .await;
        let stop = matches!(end.outcome, Outcome::Disconnected);
        ends.push(end);
        if plans.len() > 1 {
            publish(&app, &Arc::new(record.clone()));
        }
        if stop || Instant::now() >= deadline {
            break;
        }
    }
    let (outcome, complete) = overall(&ends, plans.len(), !record.messages.is_empty());
    record.outcome = outcome;
    record.complete = complete;
    if record.detail.is_none() || outcome == Outcome::Partial {
        record.detail = detail(&record, outcome);
    }
    let now = now_ms();
    record.completed_at = Some(rfc3339(now));
    record.elapsed_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    let facts = TriggerCompleted {
        complete,
        elapsed_ms: record.elapsed_ms,
        messages: record.messages.len(),
        outcome: outcome.as_str().to_owned(),
        requested_message: record.request.get("requestedMessage").cloned(),
        capability: plans.first().map_or_else(String::new, requested_name),
        accepted_by,
        first_message_ms: record.messages.first().map(|m| m.after_ms),
    };
    // The station's capabilities count it now, as replaying this entry would.
    facts.apply(&mut state.lock(), now);
    app.metrics.trigger_ended(
        record
            .request
            .get("requestedMessage")
            .and_then(Value::as_str)
            .unwrap_or(""),
        &record.protocol,
        outcome.as_str(),
        started.elapsed(),
    );
    let record = Arc::new(record);
    app.store.enqueue(WriteBatch {
        entries: vec![completed(&record, &facts, now)],
        triggers: vec![Arc::clone(&record)],
        ..WriteBatch::default()
    });
    // The final record stays readable from memory until the store surely has it, so a
    // caller that asks for it right after the answer always finds it; nobody waits.
    publish(&app, &record);
    record
}

fn requested_name(plan: &TriggerPlan) -> String {
    plan.payload
        .get("requestedMessage")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn overall(ends: &[CallOutcomeEnd], planned: usize, any_message: bool) -> (Outcome, bool) {
    let all_complete = ends.len() == planned && ends.iter().all(|e| e.complete);
    // Nothing expected and nothing came (an untargeted TransactionEvent with no known
    // transaction): done, with no message.
    let nothing_expected = all_complete && ends.iter().all(|e| e.outcome == Outcome::Completed);
    if any_message || nothing_expected {
        return if all_complete {
            (Outcome::Completed, true)
        } else {
            (Outcome::Partial, false)
        };
    }
    let first_failure = ends
        .iter()
        .map(|e| e.outcome)
        .find(|o| *o != Outcome::Completed)
        .unwrap_or(Outcome::MessageTimeout);
    (first_failure, false)
}

fn detail(record: &TriggerRecord, outcome: Outcome) -> Option<String> {
    let wanted = record
        .request
        .get("requestedMessage")
        .and_then(Value::as_str)
        .unwrap_or("the message");
    Some(match outcome {
        Outcome::Completed => return None,
        Outcome::Partial => format!(
            "{} of the expected messages arrived before the deadline; the station may not have every connector/EVSE ocpulse knows of",
            record.messages.len()
        ),
        Outcome::Rejected => format!("the station rejected the trigger of {wanted}"),
        Outcome::NotImplemented => format!(
            "the station does not implement triggering {wanted}; see the station's capabilities"
        ),
        Outcome::MessageTimeout => {
            format!("the station accepted the trigger but sent no {wanted} before the deadline")
        }
        Outcome::WrongTarget => format!(
            "the station sent {wanted} only for other connectors/EVSEs than the one asked (see unmatched)"
        ),
        Outcome::StationTimeout => "the station did not answer the trigger in time".into(),
        Outcome::Disconnected => "the station disconnected before the trigger ended".into(),
        Outcome::CallError => "the station answered the trigger with a CALLERROR".into(),
        Outcome::InvalidResponse => "the station's answer violates the response schema".into(),
        Outcome::Running | Outcome::Interrupted => return None,
    })
}

async fn run_call(
    session: &SessionHandle,
    record: &mut TriggerRecord,
    plan: &TriggerPlan,
    deadline: Instant,
    started: Instant,
    accepted_by: &mut Option<String>,
) -> CallOutcomeEnd {
    let mut end = send_and_collect(session, record, plan, deadline, started, accepted_by).await;
    if end.outcome == Outcome::NotImplemented
        && let Some(retry) = trigger_plan::extended_retry(session.protocol, plan)
        && Instant::now() < deadline
    {
        end = send_and_collect(session, record, &retry, deadline, started, accepted_by).await;
    }
    end
}

fn correlated(m: MatchedMessage, started: Instant) -> CorrelatedMessage {
    CorrelatedMessage {
        action: m.action,
        message_id: m.message_id,
        payload: m.payload,
        received_at: rfc3339(m.received_at),
        after_ms: millis(m.received.saturating_duration_since(started.into_std())),
        before_answer: m.before_answer,
        matched_by: m.reason,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sends one planned call and waits for its end: the session replies once the station
/// answered and, if it accepted, once the trigger's watch is done (every expected message
/// committed, the deadline passed, or the connection gone).
async fn send_and_collect(
    session: &SessionHandle,
    record: &mut TriggerRecord,
    plan: &TriggerPlan,
    deadline: Instant,
    started: Instant,
    accepted_by: &mut Option<String>,
) -> CallOutcomeEnd {
    let (reply_tx, reply_rx) = oneshot::channel();
    let sent_at = Instant::now();
    let call = Box::new(CallRequest {
        redact: false,
        action: plan.action.to_owned(),
        payload: plan.payload.clone(),
        timeout: deadline.saturating_duration_since(sent_at),
        reply: reply_tx,
        watch: Some(TriggerWatch {
            trigger_id: record.id.clone(),
            expectation: plan.expectation.clone(),
        }),
    });
    record.calls.push(SentCall {
        action: plan.action.to_owned(),
        payload: plan.payload.clone(),
        note: plan.note.clone(),
        status: None,
        status_info: None,
        error: None,
        answer_ms: None,
        response: None,
    });
    let index = record.calls.len() - 1;
    let fail = |outcome| CallOutcomeEnd {
        outcome,
        complete: false,
    };
    if session.calls.send(call).is_err() {
        return fail(Outcome::Disconnected);
    }
    // The session ends the watch at the deadline itself; the margin only guards against a
    // CALL still queued behind another when the deadline passes.
    let end = match tokio::time::timeout_at(deadline + END_MARGIN, reply_rx).await {
        Ok(Ok(end)) => end,
        Ok(Err(_)) => CallEnd {
            outcome: CallOutcome::Disconnected,
            collected: None,
        },
        Err(_) => CallEnd {
            outcome: CallOutcome::Timeout,
            collected: None,
        },
    };
    let collected = end.collected.map(|c| *c).unwrap_or_default();
    let call = &mut record.calls[index];
    call.answer_ms = Some(collected.answered.map_or_else(
        || millis(sent_at.elapsed()),
        |at| millis(at.saturating_duration_since(sent_at.into_std())),
    ));
    let response = match end.outcome {
        CallOutcome::Result(payload) => payload,
        CallOutcome::Timeout => return fail(Outcome::StationTimeout),
        CallOutcome::Disconnected => return fail(Outcome::Disconnected),
        CallOutcome::Error {
            code,
            description,
            details,
        } => {
            call.error = Some(
                json!({"errorCode": code, "errorDescription": description, "errorDetails": details}),
            );
            return fail(Outcome::CallError);
        }
        CallOutcome::InvalidResponse { payload, violation } => {
            call.error = Some(json!({"payload": payload, "violation": violation}));
            return fail(Outcome::InvalidResponse);
        }
    };
    let status = response
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    call.status = Some(status.clone());
    call.status_info = response.get("statusInfo").cloned();
    match status.as_str() {
        "Accepted" => {}
        "NotImplemented" => return fail(Outcome::NotImplemented),
        _ => return fail(Outcome::Rejected),
    }
    *accepted_by = Some(plan.action.to_owned());
    collect(record, collected, started)
}

/// Adds what a watch collected to the record and names the call's outcome.
fn collect(record: &mut TriggerRecord, collected: Collected, started: Instant) -> CallOutcomeEnd {
    let Collected {
        messages,
        unmatched,
        complete,
        certificate,
        disconnected,
        ..
    } = collected;
    let any = !messages.is_empty();
    record
        .messages
        .extend(messages.into_iter().map(|m| correlated(m, started)));
    record
        .unmatched
        .extend(unmatched.into_iter().map(|m| correlated(m, started)));
    if let Some(c) = certificate {
        record.certificate =
            serde_json::to_value(crate::api::station_view::CertificateView::of(&c)).ok();
    }
    let outcome = if any || complete {
        Outcome::Completed
    } else if disconnected {
        Outcome::Disconnected
    } else if !record.unmatched.is_empty() {
        Outcome::WrongTarget
    } else {
        Outcome::MessageTimeout
    };
    CallOutcomeEnd { outcome, complete }
}

/// How long past its deadline a trigger's caller waits for the session's reply.
const END_MARGIN: Duration = Duration::from_secs(2);
