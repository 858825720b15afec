//! The station's local authorization list version, learned from the CSMS CALLs that set or
//! report it (SendLocalList answered Accepted, GetLocalListVersion), whoever sent them
//! (`/local-list`, `/calls`). Journaled as a `LocalListVersion` event so the projection
//! rebuilds it after a restart.

use ocpp_rpc::Frame;
use serde_json::Value;

use super::{Caller, Now, ServerSession};
use crate::authorization::local_list::{LOCAL_LIST_VERSION, ListKnown};

impl<T: Caller> ServerSession<T> {
    /// A CSMS CALL is on its way: a SendLocalList's payload is kept until its answer.
    pub(super) fn note_local_list_sent(&mut self, action: &str, frame: &Frame) {
        if let Frame::Call { id, payload, .. } = frame
            && action == "SendLocalList"
        {
            self.local_list_sent = Some((id.clone(), payload.clone()));
        }
    }

    /// A CSMS CALL was answered with a CALLRESULT: learn the list version it tells, if any.
    pub(super) fn learn_local_list(&mut self, id: &str, action: &str, response: &Value, now: Now) {
        let sent = match self.local_list_sent.take() {
            Some((sent_id, payload)) if sent_id == id => Some(payload),
            other => {
                self.local_list_sent = other;
                None
            }
        };
        let Some(known) = ListKnown::learned(action, sent.as_ref(), response, now.wall) else {
            return;
        };
        let event = self.event(
            LOCAL_LIST_VERSION,
            &serde_json::to_value(&known).unwrap_or_default(),
            now,
        );
        self.lock_state().local_list = Some(known);
        self.write(vec![event]);
    }
}
