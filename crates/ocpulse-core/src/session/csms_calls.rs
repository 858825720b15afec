//! CSMS CALLs: queued in the outbox (one in flight), journaled as sent, matched with the
//! station's answer, and ended for their caller; a trigger's CALL ends only when its watch
//! does.

use ocpp_rpc::outbox::AnswerMatch;
use ocpp_rpc::schema::SchemaError;
use ocpp_rpc::trigger::Collector;
use ocpp_rpc::{Frame, PayloadKind};

use super::certificates::FollowUp;
use super::watches::Watch;
use super::{CallOutcome, Caller, CsmsCall, Now, Origin, Output, Queued, ServerSession};
use crate::{Direction, ValidationMode};

impl<T: Caller> ServerSession<T> {
    /// Queues a CSMS CALL; it is sent by `poll` once none is in flight.
    pub fn push_call(&mut self, call: CsmsCall<T>, now: Now) {
        let queued = Queued {
            origin: Origin::Caller(call.caller),
            watch: call.watch,
            deadline: now.mono + call.timeout,
            redact: call.redact,
        };
        self.outbox
            .push(call.action, call.payload, call.timeout, queued);
    }

    pub(super) fn push_certificate(&mut self, follow: FollowUp, now: Now) {
        let timeout = self.env.settings.call_timeout;
        let queued = Queued {
            origin: Origin::Certificate {
                serial: follow.serial,
            },
            watch: None,
            deadline: now.mono + timeout,
            redact: false,
        };
        self.outbox.push(
            "CertificateSigned".to_owned(),
            follow.payload,
            timeout,
            queued,
        );
    }

    /// Writes the next queued CALL if none is in flight; a trigger's watch starts with it.
    pub(super) fn transmit(&mut self, now: Now) {
        let Some(t) = self.outbox.poll_transmit(now.mono, Queued::wanted) else {
            return;
        };
        let Some(queued) = self.outbox.in_flight_token() else {
            return;
        };
        let trigger_id = queued.watch.as_ref().map(|w| w.trigger_id.clone());
        let redact = queued.redact;
        let watch = queued.watch.as_ref().map(|w| {
            let marking = self.lock_state().trigger_marking;
            Watch::new(
                w.trigger_id.clone(),
                t.id.clone(),
                Collector::new(
                    w.expectation.clone(),
                    self.env.settings.quiet_period,
                    marking,
                ),
                queued.deadline,
            )
        });
        self.watches.extend(watch);
        let mut entry = self.entry(Direction::Out, &t.frame, Some(&t.action), now);
        entry.trigger_id = trigger_id;
        if let Frame::Call { payload, .. } = &t.frame {
            // A caller that knows its CALL carries a secret says so; any other CALL is
            // searched for the secrets a CALL of its action can carry.
            if redact {
                entry.payload = super::redact::redacted(payload).to_string();
            } else if let Some(copy) = super::redact::secrets_redacted(&t.action, payload) {
                entry.payload = copy.to_string();
            }
        }
        self.write(vec![entry]);
        self.note_local_list_sent(&t.action, &t.frame);
        self.out.push(Output::Send(t.frame.to_text()));
    }

    /// Ends the CALLs the station did not answer in time.
    pub(super) fn expire(&mut self, now: Now) {
        while let Some(expired) = self.outbox.poll_timeout(now.mono) {
            self.settle_call(&expired.id, expired.token, CallOutcome::Timeout, now);
        }
    }

    /// A CALLRESULT or CALLERROR arrived.
    pub(super) fn on_answer(&mut self, frame: Frame, now: Now) {
        let action = self.outbox.action_of(frame.id()).map(str::to_owned);
        let mut entry = self.entry(Direction::In, &frame, action.as_deref(), now);
        let (action, queued) = match self.outbox.on_answer(frame.id()) {
            AnswerMatch::Matched { action, token } => (action, token),
            AnswerMatch::Unmatched => {
                entry.violation = Some(
                    "no CALL with this message id is in flight (late or unknown answer); ignored"
                        .into(),
                );
                return self.write(vec![entry]);
            }
        };
        entry.trigger_id = queued.watch.as_ref().map(|w| w.trigger_id.clone());
        let id = frame.id().to_owned();
        let outcome = match frame {
            Frame::CallResult { payload, .. } => match self.env.schemas.validate(
                self.protocol,
                &action,
                PayloadKind::Response,
                &payload,
            ) {
                Err(SchemaError::Invalid(v)) => {
                    entry.violation = Some(v.description.clone());
                    match self.validation_mode() {
                        ValidationMode::Strict => CallOutcome::InvalidResponse {
                            payload,
                            violation: v.description,
                        },
                        ValidationMode::Lenient => CallOutcome::Result(payload),
                    }
                }
                _ => CallOutcome::Result(payload),
            },
            Frame::CallError {
                code,
                description,
                details,
                ..
            } => CallOutcome::Error {
                code,
                description,
                details,
            },
            Frame::Call { .. } => CallOutcome::Disconnected,
        };
        // The answer is the trigger's own record of how the station took it (its entry
        // carries the trigger id); the trigger's one event comes when it ends.
        self.write(vec![entry]);
        if let CallOutcome::Result(response) = &outcome {
            self.learn_local_list(&id, &action, response, now);
        }
        self.settle_call(&id, queued, outcome, now);
    }

    /// A CALL ended: a watched trigger keeps waiting for its messages if accepted; anyone
    /// else hears the outcome now.
    fn settle_call(&mut self, id: &str, queued: Queued<T>, outcome: CallOutcome, now: Now) {
        if queued.watch.is_some()
            && let Some(w) = self.watches.iter_mut().find(|w| w.call_id == id)
            && let Origin::Caller(caller) = queued.origin
        {
            w.outcome = Some(outcome);
            w.answered = Some(now.mono);
            w.token = Some(caller);
            return self.end_due_watches(now);
        }
        self.settle(queued, outcome, now);
    }

    /// Hands a CALL's outcome to whoever waits for it.
    pub(super) fn settle(&mut self, queued: Queued<T>, outcome: CallOutcome, now: Now) {
        match queued.origin {
            Origin::Caller(caller) => self.out.push(Output::Ended {
                caller,
                outcome,
                collected: None,
            }),
            Origin::Certificate { serial } => {
                let status = outcome.status_name();
                let recorded = self
                    .lock_state()
                    .record_certificate_signed(&serial, &status, now.wall);
                if recorded {
                    let answered = crate::projection::CertificateSignedAnswered {
                        serial: serial.clone(),
                        status,
                    };
                    let event = self.event(
                        crate::projection::CERTIFICATE_SIGNED_ANSWERED,
                        &serde_json::to_value(&answered).unwrap_or_default(),
                        now,
                    );
                    self.write(vec![event]);
                }
                for w in &mut self.watches {
                    if w.awaiting_certificate.as_deref() == Some(serial.as_str()) {
                        w.awaiting_certificate = None;
                    }
                }
                self.end_due_watches(now);
            }
        }
    }

    /// Ends every watch that is done.
    pub(super) fn end_due_watches(&mut self, now: Now) {
        let mut i = 0;
        while i < self.watches.len() {
            if self.watches[i].done(now.mono) {
                let watch = self.watches.remove(i);
                self.end_watch(watch, false, now);
            } else {
                i += 1;
            }
        }
    }

    /// Tells a watched trigger's caller what it collected, and keeps what the trigger taught
    /// about the station's marking habit.
    pub(super) fn end_watch(&mut self, mut watch: Watch<T>, disconnected: bool, now: Now) {
        let certificate = (watch.collector.expectation().action == "SignCertificate")
            .then(|| self.lock_state().certificate.clone())
            .flatten();
        if let Some(learned) = watch.collector.learned() {
            let changed = {
                let mut s = self.lock_state();
                std::mem::replace(&mut s.trigger_marking, learned) != learned
            };
            if changed {
                let fact = crate::projection::MarkingLearned { marking: learned };
                let event = self.event(
                    crate::projection::TRIGGER_MARKING_LEARNED,
                    &serde_json::to_value(&fact).unwrap_or_default(),
                    now,
                );
                self.write(vec![event]);
            }
        }
        let mut collected = watch.collected(now.mono, certificate);
        collected.disconnected = disconnected;
        let outcome = watch.outcome.take().unwrap_or(CallOutcome::Disconnected);
        if let Some(caller) = watch.token.take() {
            self.out.push(Output::Ended {
                caller,
                outcome,
                collected: Some(Box::new(collected)),
            });
        }
    }
}
