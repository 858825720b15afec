//! Station CALLs: validated, answered, applied to the state, offered to the waiting
//! triggers, committed with their answer, and answered once the commit is durable.

use ocpp_rpc::schema::SchemaError;
use ocpp_rpc::trigger::Offer;
use ocpp_rpc::{ErrorCode, Frame, FrameError, PayloadKind};
use serde_json::Value;

use super::certificates::{self, CsrCheck};
use super::offers::CallFacts;
use super::watches::MatchedMessage;
use super::{Caller, DeferredApply, Now, Output, PendingAck, ServerSession};
use crate::answers::{self, Answer, AnswerContext};
use crate::incoming::StationCall;
use crate::journal::{MALFORMED, SECURITY_EVENT};
use crate::store::{StoreError, WriteBatch};
use crate::{Direction, JournalEntry, ValidationMode};

impl<T: Caller> ServerSession<T> {
    /// A text frame arrived.
    pub fn on_text(&mut self, text: &str, now: Now) {
        self.lock_state().last_seen = Some(now.wall);
        let limit = self.env.settings.max_frame_bytes;
        if text.len() > limit {
            return self.on_oversized(text, limit, now);
        }
        match Frame::parse(text) {
            Err(error) => self.on_malformed(text, &error, now),
            Ok(Frame::Call {
                id,
                action,
                payload,
            }) => self.on_call(id, action, payload, now),
            Ok(frame @ (Frame::CallResult { .. } | Frame::CallError { .. })) => {
                self.on_answer(frame, now);
            }
        }
    }

    /// A binary frame arrived: OCPP-J has none.
    pub fn on_binary(&mut self, now: Now) {
        self.lock_state().last_seen = Some(now.wall);
        let error = FrameError {
            id: None,
            code: ErrorCode::FormatViolation,
            message: "OCPP-J messages are WebSocket text frames; a binary frame was received"
                .into(),
            message_type: None,
        };
        self.on_malformed("<binary frame>", &error, now);
    }

    /// Refuses a message over the size limit with a CALLERROR (its id read from the frame's
    /// start, when it has one) and journals only its size and SHA-256.
    fn on_oversized(&mut self, text: &str, limit: usize, now: Now) {
        let error = FrameError {
            id: super::frames::leading_message_id(text),
            code: ErrorCode::FormatViolation,
            message: format!(
                "the message has {} bytes; this CSMS accepts at most {limit}",
                text.len()
            ),
            message_type: None,
        };
        let summary = serde_json::json!({
            "size": text.len(),
            "sha256": super::frames::sha256_hex(text.as_bytes()),
        })
        .to_string();
        self.on_malformed(&summary, &error, now);
    }

    /// Journals unreadable input and answers it with the CALLERROR its error names.
    fn on_malformed(&mut self, text: &str, error: &FrameError, now: Now) {
        let reply = error.to_call_error(self.protocol);
        let received = JournalEntry {
            seq: 0,
            station_id: self.station_id.clone(),
            direction: Direction::In,
            frame_type: MALFORMED,
            message_id: error.id.clone(),
            action: None,
            payload: super::frames::journaled_text(text),
            at: now.wall,
            violation: Some(error.message.clone()),
            trigger_id: None,
        };
        let answered = self.entry(Direction::Out, &reply, None, now);
        self.write(vec![received, answered]);
        self.out.push(Output::Send(reply.to_text()));
    }

    /// Answers a CALL with a CALLERROR at once (nothing to commit: nothing was accepted).
    fn reject(&mut self, call: &Frame, action: &str, code: ErrorCode, description: &str, now: Now) {
        let reply = Frame::call_error(call.id(), code, self.protocol, description);
        let entries = vec![
            self.entry(Direction::In, call, Some(action), now),
            self.entry(Direction::Out, &reply, Some(action), now),
        ];
        self.write(entries);
        self.out.push(Output::Send(reply.to_text()));
    }

    fn on_call(&mut self, id: String, action: String, payload: Value, now: Now) {
        let call = Frame::Call {
            id,
            action,
            payload,
        };
        let Frame::Call {
            id,
            action,
            payload,
        } = &call
        else {
            return;
        };
        if self.acks.iter().any(|a| a.id == *id) {
            return self.reject(
                &call,
                action,
                ErrorCode::RpcFrameworkError,
                "a CALL with this message id is being handled already",
                now,
            );
        }
        let mut violation = None;
        match self
            .env
            .schemas
            .validate(self.protocol, action, PayloadKind::Request, payload)
        {
            Ok(()) => {}
            Err(SchemaError::UnknownAction { .. }) => {
                let msg = format!("action {action:?} is not defined in {}", self.protocol);
                return self.reject(&call, action, ErrorCode::NotImplemented, &msg, now);
            }
            Err(SchemaError::Invalid(v)) => match self.validation_mode() {
                ValidationMode::Strict => {
                    return self.reject(&call, action, v.code, &v.description, now);
                }
                ValidationMode::Lenient => violation = Some(v.description),
            },
        }
        let transaction_id = if answers::needs_transaction_id(self.protocol, action) {
            self.env.transaction_ids.next_transaction_id()
        } else {
            None
        };
        // The registry decides now, and the decision is journaled as the CALLRESULT.
        let id_token = crate::authorization::presented(self.protocol, action, payload).verdict(
            &self.env.id_tokens,
            self.env.settings.authorization,
            now.wall,
        );
        let ctx = AnswerContext {
            now: crate::rfc3339(now.wall),
            heartbeat_interval: self.env.settings.heartbeat_interval,
            transaction_id,
            id_token,
        };
        let call_read = StationCall::parse(self.protocol, action, payload);
        let csr_check = (action == "SignCertificate").then(|| self.check_csr(&call_read, now));
        let reply = match &csr_check {
            Some(check) => answers::sign_certificate(self.protocol, &check.verdict),
            None => answers::answer(self.protocol, action, &ctx),
        };
        let response = match reply {
            Answer::Result(r) => r,
            Answer::Error { code, description } => {
                return self.reject(&call, action, code, &description, now);
            }
        };
        if self
            .env
            .schemas
            .validate(self.protocol, action, PayloadKind::Response, &response)
            .is_err()
        {
            return self.reject(
                &call,
                action,
                ErrorCode::InternalError,
                "the CSMS could not build a valid answer",
                now,
            );
        }
        // Read now, applied once the commit is durable (`on_committed`): the live state
        // never holds what the journal may still lose.
        let facts = CallFacts::read(&call_read, &self.lock_state());
        // The CSMS's decision on a CSR is journaled with the CALL: replaying the journal
        // cannot ask the CA again.
        let mut decided = None;
        let mut certificate_request = None;
        let follow_up = csr_check.and_then(|check| {
            decided = Some(self.event(
                crate::projection::CERTIFICATE_REQUESTED,
                &serde_json::to_value(&check.record).unwrap_or_default(),
                now,
            ));
            certificate_request = Some(check.record);
            check.follow_up
        });
        let mut entry = self.entry(Direction::In, &call, Some(action), now);
        entry.violation.clone_from(&violation);
        let claim = self.offer_to_watches(id, action, payload, &facts, now);
        if let Some((trigger_id, super::Slot::Claimed(_))) = &claim {
            entry.trigger_id = Some(trigger_id.clone());
        }
        // The CALL and its CALLRESULT are committed together, before the CALLRESULT is
        // sent: whoever sees the answer also finds both in the journal.
        let result = Frame::CallResult {
            id: id.clone(),
            payload: response,
        };
        let mut answered = self.entry(Direction::Out, &result, Some(action), now);
        answered.trigger_id.clone_from(&entry.trigger_id);
        let Frame::CallResult {
            payload: response, ..
        } = result
        else {
            return;
        };
        let commit = self.next_commit;
        self.next_commit += 1;
        self.out.push(Output::Commit {
            id: commit,
            batch: WriteBatch {
                entries: [entry, answered].into_iter().chain(decided).collect(),
                transaction_id,
                ..WriteBatch::default()
            },
        });
        self.acks.push_back(PendingAck {
            commit,
            id: id.clone(),
            action: action.clone(),
            apply: DeferredApply {
                call: call_read,
                payload: payload.clone(),
                violation,
                certificate_request,
                at: now.wall,
            },
            response,
            claim,
            follow_up,
        });
    }

    /// Offers a station CALL to the waiting triggers, oldest first: the first that claims
    /// it keeps it; otherwise the oldest that sees it as a near miss records it.
    fn offer_to_watches(
        &mut self,
        id: &str,
        action: &str,
        payload: &Value,
        facts: &CallFacts,
        now: Now,
    ) -> Option<(String, super::Slot)> {
        let offer = Offer {
            action,
            target: facts.target,
            marker: facts.marker,
            transaction_id: facts.transaction_id.as_deref(),
            reports_change: facts.reports_change,
        };
        let message = || MatchedMessage {
            message_id: id.to_owned(),
            action: action.to_owned(),
            payload: payload.clone(),
            received_at: now.wall,
            received: now.mono,
            before_answer: false,
            reason: None,
        };
        let mut near_miss = None;
        for (index, watch) in self.watches.iter_mut().enumerate() {
            match watch.collector.offer(&offer, now.mono) {
                v @ ocpp_rpc::trigger::Verdict::Claim { .. } => {
                    let slot = watch.take(v, message())?;
                    return Some((watch.trigger_id.clone(), slot));
                }
                ocpp_rpc::trigger::Verdict::NearMiss if near_miss.is_none() => {
                    near_miss = Some(index);
                }
                _ => {}
            }
        }
        let watch = self.watches.get_mut(near_miss?)?;
        let slot = watch.take(ocpp_rpc::trigger::Verdict::NearMiss, message())?;
        Some((watch.trigger_id.clone(), slot))
    }

    /// A station CALL's commit ended: answer it (CALLRESULT when durable, else an
    /// InternalError so the station retries), then let its trigger and certificate go on.
    pub fn on_committed(&mut self, commit: u64, result: Result<(), StoreError>, now: Now) {
        let Some(position) = self.acks.iter().position(|a| a.commit == commit) else {
            return;
        };
        let Some(ack) = self.acks.remove(position) else {
            return;
        };
        let ok = result.is_ok();
        if ok {
            let apply = &ack.apply;
            let mut s = self.lock_state();
            s.apply_acknowledged(
                &ack.action,
                &apply.call,
                &apply.payload,
                &ack.response,
                apply.violation.as_deref(),
                apply.at,
            );
            if let Some(request) = ack.apply.certificate_request.clone() {
                s.record_certificate_request(request);
            }
        }
        if let Some((trigger_id, slot)) = &ack.claim
            && let Some(w) = self
                .watches
                .iter_mut()
                .find(|w| w.trigger_id == *trigger_id)
        {
            w.committed(*slot, ok);
        }
        let reply = if ok {
            Frame::CallResult {
                id: ack.id,
                payload: ack.response,
            }
        } else {
            let reply = Frame::call_error(
                &ack.id,
                ErrorCode::InternalError,
                self.protocol,
                "the CSMS could not store the message; please retry",
            );
            let entry = self.entry(Direction::Out, &reply, Some(&ack.action), now);
            // The station will retry SignCertificate; this certificate is never delivered
            // (nor was its request applied to the state: its commit failed).
            self.write(vec![entry]);
            reply
        };
        self.out.push(Output::Send(reply.to_text()));
        if ok && let Some(follow) = ack.follow_up {
            // Queued after the CALLRESULT above, so the station always sees Accepted before
            // the certificate.
            if let Some((trigger_id, _)) = &ack.claim
                && let Some(w) = self
                    .watches
                    .iter_mut()
                    .find(|w| w.trigger_id == *trigger_id)
            {
                w.awaiting_certificate = Some(follow.serial.clone());
            }
            self.push_certificate(follow, now);
        }
    }

    fn check_csr(&mut self, call: &StationCall, now: Now) -> CsrCheck {
        let check = certificates::check_csr(
            self.env.issuer.as_deref(),
            &self.env.schemas,
            self.protocol,
            &self.station_id,
            self.env.settings.csr_organization.as_deref(),
            call.csr_request(),
            now.wall,
        );
        if let Some(why) = &check.subject_mismatch {
            // A station asking for another's name: refused, and raised as a security event.
            let event = self.event(
                SECURITY_EVENT,
                &serde_json::json!({"type": "InvalidCsr", "techInfo": why}),
                now,
            );
            self.write(vec![event]);
        }
        check
    }
}
