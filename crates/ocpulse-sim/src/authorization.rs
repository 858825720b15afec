//! What the station does when the CSMS refuses the id token a transaction started with: a
//! 1.6 StartTransaction answered with an `idTagInfo` other than Accepted (1.6 §5.16,
//! `StopTransactionOnInvalidId`), or a 2.x `Started` TransactionEvent answered with such an
//! `idTokenInfo` (2.0.1 E05, `StopTxOnInvalidId`), ends the transaction at once.

use serde_json::Value;

use crate::clock::Now;
use crate::station::{Purpose, Station};

impl Station {
    /// Reads the CSMS's answer to a transaction start and ends the transaction if its token
    /// was refused. `sent` is the CALL's payload; an answer without an info refuses nothing.
    pub(crate) fn on_transaction_authorization(
        &mut self,
        action: &str,
        sent: &Value,
        purpose: Purpose,
        answer: &Value,
        now: Now,
    ) {
        let status = match action {
            "StartTransaction" => answer.pointer("/idTagInfo/status"),
            "TransactionEvent"
                if sent.get("eventType").and_then(Value::as_str) == Some("Started") =>
            {
                answer.pointer("/idTokenInfo/status")
            }
            _ => return,
        };
        let Some(status) = status.and_then(Value::as_str) else {
            return;
        };
        if status == "Accepted" {
            return;
        }
        let index = match purpose {
            Purpose::StartTransaction(i) => Some(i),
            _ => {
                let id = sent
                    .pointer("/transactionInfo/transactionId")
                    .and_then(Value::as_str);
                self.evses
                    .iter()
                    .position(|e| e.tx.as_ref().and_then(|t| t.id.as_deref()) == id)
            }
        };
        if let Some(i) = index
            && self.evses.get(i).is_some_and(|e| e.tx.is_some())
        {
            self.counters.deauthorized += 1;
            self.end_transaction(i, "DeAuthorized", now);
        }
    }
}
