//! Drives one job: starts each open station's trigger (or call) under the job's concurrency budget,
//! start rate and the server-wide budget, retries retryable outcomes with backoff, and
//! writes the job's progress at most every `FLUSH_EVERY`.

use std::sync::Arc;
use std::time::Duration;

use ocpulse_core::fleet_job::{
    JobOutcome, JobSpec, JobStatus, StationResult, backoff_ms, spread_offset_ms,
};
use ocpulse_core::store::WriteBatch;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::JobHandle;
use crate::app::App;
use crate::call_run::{self, CallOptions, CallRun};
use crate::csms_call::CallRefusal;
use crate::now_ms;

use crate::trigger_service::{self, Refusal, TriggerOptions};

/// One station's work, ready to send.
enum Work {
    Trigger(trigger_service::Prepared),
    Call(Box<CallRun>),
    /// A call for a station another cluster node holds: sent by that node.
    RemoteCall(Box<RemoteCallWork>),
}

/// A job's call for a station held by another node.
struct RemoteCallWork {
    node: String,
    station_id: String,
    action: String,
    payload: serde_json::Value,
    options: CallOptions,
}

/// How often a running job's progress is written (each write is the whole job document).
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// A number in `[0, 1)` for jitter; uniqueness, not cryptography, is what matters.
fn random_unit() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() >> 75; // 53 random bits
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1u64 << 53) as f64;
    unit
}

/// Runs the job to its end (or its cancellation). `delay` postpones the start (a resumed
/// job gives stations time to reconnect).
pub(super) async fn run(app: Arc<App>, handle: Arc<JobHandle>, delay: Option<Duration>) {
    let Some(job) = handle.snapshot() else {
        return;
    };
    let spec = Arc::new(job.spec.clone());
    let job_id = job.id.clone();
    // Stations whose trigger was running when the process stopped are run again.
    let open: Vec<usize> = job
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_open())
        .map(|(i, _)| i)
        .collect();
    handle.update(|j| {
        for &i in &open {
            j.results[i].outcome = JobOutcome::Pending;
        }
    });
    let flusher = tokio::spawn(flush_loop(Arc::clone(&app), Arc::clone(&handle)));
    if let Some(delay) = delay {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = handle.cancel.cancelled() => {}
            () = app.shutdown.cancelled() => {}
        }
    }
    let local = Arc::new(Semaphore::new(spec.limits.concurrency as usize));
    let interval = spec
        .limits
        .rate_per_second
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next_start = Instant::now();
    let mut tasks = JoinSet::new();
    for index in open {
        if stopping(&app, &handle) {
            break;
        }
        if let Some(interval) = interval {
            tokio::select! {
                () = tokio::time::sleep_until(next_start) => {}
                () = handle.cancel.cancelled() => break,
                () = app.shutdown.cancelled() => break,
            }
            // A stall (e.g. waiting for the budget) does not earn a burst afterwards. (An
            // interval longer than the monotonic clock's age has no `now - interval`.)
            let now = Instant::now();
            next_start = now
                .checked_sub(interval)
                .map_or(next_start, |earliest| next_start.max(earliest))
                + interval;
        }
        let permits = tokio::select! {
            p = acquire(&local, &app.jobs.budget) => p,
            () = handle.cancel.cancelled() => break,
            () = app.shutdown.cancelled() => break,
        };
        let Some(permits) = permits else {
            break;
        };
        tasks.spawn(station(
            Arc::clone(&app),
            Arc::clone(&handle),
            Arc::clone(&spec),
            job_id.clone(),
            index,
            permits,
        ));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    if app.shutdown.is_cancelled() {
        // Stopping, not cancelled: the job stays Running and resumes at the next start.
        flusher.abort();
        if let Some(doc) = handle.take_dirty_doc() {
            let _ = app.store.save_docs(vec![doc]).await;
        }
        return;
    }
    let cancelled = handle.cancel.is_cancelled();
    handle.update(|j| {
        for r in &mut j.results {
            if r.is_open() {
                r.outcome = JobOutcome::Cancelled;
                r.finished_at = Some(now_ms());
            }
        }
        j.status = if cancelled {
            JobStatus::Cancelled
        } else {
            JobStatus::Completed
        };
        j.finished_at = Some(now_ms());
    });
    flusher.abort();
    if let Some(doc) = handle.take_dirty_doc() {
        match app.store.save_docs(vec![doc]).await {
            Ok(()) => handle.mark_stored(),
            Err(e) => {
                tracing::error!(job = %job_id, error = %e, "could not store the finished job");
            }
        }
    }
    handle.finished.notify_waiters();
    let counts = handle.counts();
    app.metrics.job_finished(
        if cancelled { "Cancelled" } else { "Completed" },
        counts.iter().map(|(outcome, n)| (outcome.as_str(), *n)),
    );
    tracing::info!(job = %job_id, cancelled, ?counts, "trigger job ended");
    // Older finished jobs' results leave memory past the bound (they are stored).
    app.jobs.trim();
}

fn stopping(app: &App, handle: &JobHandle) -> bool {
    handle.cancel.is_cancelled() || app.shutdown.is_cancelled()
}

/// Both the job's and the server's permit; `None` if a semaphore closed.
async fn acquire(
    local: &Arc<Semaphore>,
    global: &Arc<Semaphore>,
) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
    let a = Arc::clone(local).acquire_owned().await.ok()?;
    let b = Arc::clone(global).acquire_owned().await.ok()?;
    Some((a, b))
}

async fn flush_loop(app: Arc<App>, handle: Arc<JobHandle>) {
    loop {
        tokio::time::sleep(FLUSH_EVERY).await;
        if let Some(doc) = handle.take_dirty_doc() {
            app.store.enqueue(WriteBatch {
                docs: vec![doc],
                ..WriteBatch::default()
            });
        }
    }
}

/// One station's part: spread offset, trigger, retries.
async fn station(
    app: Arc<App>,
    handle: Arc<JobHandle>,
    spec: Arc<JobSpec>,
    job_id: String,
    index: usize,
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
) {
    let Some((station_id, done_before)) = Some({
        let j = handle.job.lock();

        (
            j.results[index].station_id.clone(),
            j.results[index].attempts,
        )
    }) else {
        return;
    };
    let offset = spread_offset_ms(&job_id, &station_id, spec.limits.spread_ms);
    if offset > 0 {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(offset)) => {}
            () = handle.cancel.cancelled() => return,
            () = app.shutdown.cancelled() => return,
        }
    }
    // A resumed station gets at least one more try whatever it used before.
    let allowed = (spec.limits.retries + 1).max(done_before + 1);
    let mut attempts = done_before;
    loop {
        // `attempts` counts triggers actually sent: a refusal before sending (an offline or
        // unknown station, a request its version cannot express) leaves it as it was.
        crate::cluster::locate(&app, &station_id).await;
        let result = match prepare(&app, &spec, &job_id, &station_id) {
            Err(refused) => *refused,
            Ok(run) => {
                attempts += 1;
                handle.update(|j| {
                    let r = &mut j.results[index];
                    r.outcome = JobOutcome::Running;
                    r.attempts = attempts;
                });
                attempt(&app, run).await
            }
        };
        let again = result.outcome.retryable()
            && attempts < allowed
            && !handle.cancel.is_cancelled()
            && !app.shutdown.is_cancelled();
        if !again {
            if app.shutdown.is_cancelled() && result.outcome.retryable() {
                // The process is stopping mid-trigger: leave it open for the resume.
                return;
            }
            handle.update(|j| {
                let r = &mut j.results[index];
                *r = StationResult {
                    attempts,
                    finished_at: Some(now_ms()),
                    ..result
                };
            });
            return;
        }
        let wait = backoff_ms(
            spec.limits.retry_backoff_ms,
            attempts - done_before,
            random_unit(),
        );
        handle.update(|j| {
            let r = &mut j.results[index];
            r.outcome = JobOutcome::Pending;
            r.trigger_id.clone_from(&result.trigger_id);
            r.call_id.clone_from(&result.call_id);
            r.detail = Some(format!(
                "attempt {attempts} ended {}; retrying in {wait} ms",
                result.outcome
            ));
        });
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait)) => {}
            () = handle.cancel.cancelled() => {
                handle.update(|j| {
                    let r = &mut j.results[index];
                    *r = StationResult { attempts, finished_at: Some(now_ms()), ..result };
                });
                return;
            }
            () = app.shutdown.cancelled() => return,
        }
    }
}

/// Prepares one station's trigger or call, or says why it cannot be sent (as the final
/// result, attempts and time filled in by the caller).
fn prepare(
    app: &Arc<App>,
    spec: &JobSpec,
    job_id: &str,
    station_id: &str,
) -> Result<Work, Box<StationResult>> {
    let requested_by = format!("job:{job_id}");
    if let Some(call) = &spec.call {
        let options = CallOptions::new(requested_by, Duration::from_millis(call.timeout_ms()));
        let remote = app.stations.get(station_id).and_then(|e| e.remote);
        return match call_run::prepare(
            app,
            station_id,
            &call.action,
            call.payload.clone(),
            options.clone(),
            Instant::now(),
        ) {
            Ok(run) => Ok(Work::Call(Box::new(run))),
            // In a cluster, a station held by another node gets the call from there.
            Err(CallRefusal::Station(Refusal::NotConnected(_))) if let Some(node) = remote => {
                Ok(Work::RemoteCall(Box::new(RemoteCallWork {
                    node,
                    station_id: station_id.to_owned(),
                    action: call.action.clone(),
                    payload: call.payload.clone(),
                    options,
                })))
            }
            Err(r) => Err(Box::new(refused_call(station_id, &r))),
        };
    }
    let Some(trigger) = &spec.trigger else {
        let mut result = StationResult::pending(station_id);
        result.outcome = JobOutcome::NotApplicable;
        result.detail = Some("the job has neither a trigger nor a call".into());
        return Err(Box::new(result));
    };
    let options = TriggerOptions {
        requested_by,
        request_json: serde_json::to_value(trigger).unwrap_or_default(),
        timeout: Duration::from_millis(trigger.timeout_ms()),
        store_start: false,
    };
    trigger_service::prepare_anywhere(app, station_id, trigger.request(), options, Instant::now())
        .map(Work::Trigger)
        .map_err(|r| Box::new(refused(station_id, &r)))
}

/// The final result of a station no trigger could be sent to (attempts and time filled in
/// by the caller).
fn refused(station_id: &str, refusal: &Refusal) -> StationResult {
    let mut result = StationResult::pending(station_id);
    result.outcome = match refusal {
        Refusal::UnknownStation(_) => JobOutcome::UnknownStation,
        Refusal::NotConnected(_) => JobOutcome::Offline,
        Refusal::NotApplicable { .. } | Refusal::Internal(_) => JobOutcome::NotApplicable,
    };
    result.detail = Some(format!("{}: {refusal}", refusal.code()));
    result
}

/// The final result of a station a call could not be sent to: its version refuses the
/// action or the payload (said as `/calls` would say it), or the station is unknown or
/// offline.
fn refused_call(station_id: &str, refusal: &CallRefusal) -> StationResult {
    if let CallRefusal::Station(r) = refusal {
        return refused(station_id, r);
    }
    let mut result = StationResult::pending(station_id);
    result.outcome = JobOutcome::NotApplicable;
    result.detail = Some(match refusal {
        // `/calls` lists the valid actions beside this message; a job result has no room.
        CallRefusal::NotCsmsAction {
            protocol, action, ..
        } => format!(
            "unknown_action: {action:?} is not a call the CSMS sends in {}",
            protocol.subprotocol()
        ),
        other => format!("{}: {other}", other.code()),
    });
    result
}

/// Runs one prepared trigger or call to its end, as a result (attempts and time filled in
/// by the caller).
async fn attempt(app: &Arc<App>, work: Work) -> StationResult {
    match work {
        Work::Trigger(run) => attempt_trigger(app, run).await,
        Work::Call(run) => attempt_call(app, *run).await,
        Work::RemoteCall(work) => attempt_remote_call(app, *work).await,
    }
}

/// A call's result: the record's outcome, except that an answer with `status` Rejected is
/// counted `Rejected` (delivered, but not done), with the status and any CALLERROR.
async fn attempt_call(app: &Arc<App>, run: CallRun) -> StationResult {
    let station_id = run.record.station_id.clone();
    let ended = call_run::run(Arc::clone(app), run).await;
    call_result(station_id, &ended.record)
}

/// A call sent by the node that holds the station: its result from the record that node
/// stored, or the refusal it gave, said as a local one would be.
async fn attempt_remote_call(app: &Arc<App>, work: RemoteCallWork) -> StationResult {
    use crate::cluster::remote::{self, RemoteCall};
    let RemoteCallWork {
        node,
        station_id,
        action,
        payload,
        options,
    } = work;
    match remote::call(app, &node, &station_id, &action, payload, &options).await {
        RemoteCall::Sent(record) => call_result(station_id, &record),
        RemoteCall::Refused { code, message } => {
            let mut result = StationResult::pending(&station_id);
            result.outcome = match code.as_str() {
                "station_not_connected" => JobOutcome::Offline,
                "station_not_found" => JobOutcome::UnknownStation,
                _ => JobOutcome::NotApplicable,
            };
            result.detail = Some(format!("{code}: {message}"));
            result
        }
    }
}

/// A call's result from its record.
fn call_result(
    station_id: String,
    record: &ocpulse_core::trigger_record::TriggerRecord,
) -> StationResult {
    let sent = record.calls.first();
    let mut result = StationResult::pending(station_id);
    result.status = sent.and_then(|c| c.status.clone());
    result.outcome = if result.status.as_deref() == Some("Rejected") {
        JobOutcome::Trigger(ocpulse_core::trigger_record::Outcome::Rejected)
    } else {
        record.outcome.into()
    };
    result.call_id = Some(record.id.clone());
    result.call_error = sent
        .and_then(|c| c.error.clone())
        .filter(|e| e.get("errorCode").is_some());
    result.detail = if result.outcome.succeeded() {
        None
    } else if result.status.as_deref() == Some("Rejected") {
        Some("the station answered Rejected".into())
    } else {
        record.detail.clone()
    };
    result.elapsed_ms = record.elapsed_ms;
    result
}

/// Runs one prepared trigger to its end, as a result (attempts and time filled in by the
/// caller).
async fn attempt_trigger(app: &Arc<App>, run: trigger_service::Prepared) -> StationResult {
    let station_id = match &run {
        trigger_service::Prepared::Local(run) => run.record.station_id.clone(),
        trigger_service::Prepared::Remote(remote) => remote.station_id.clone(),
    };
    let record = match trigger_service::run_prepared(app, run).await {
        Ok(record) => record,
        Err(refusal) => return refused(&station_id, &refusal),
    };
    let mut result = StationResult::pending(station_id);
    result.outcome = record.outcome.into();
    result.trigger_id = Some(record.id.clone());
    result.detail = record.detail.clone();
    result.elapsed_ms = record.elapsed_ms;
    result.matched_by = record
        .messages
        .iter()
        .filter_map(|m| m.matched_by)
        .collect();
    if result.outcome.succeeded() {
        result.detail = None;
    }
    result
}
