//! Secrets a CSMS CALL may carry, kept out of the journal.

use serde_json::Value;

/// A copy of a CALL payload with its secret values replaced: the `value` of a 1.6
/// ChangeConfiguration and every `attributeValue` of a 2.0.1 SetVariables, so a new
/// password sent to a station is never journaled.
pub fn redacted(payload: &Value) -> Value {
    let mut copy = payload.clone();
    if let Some(v) = copy.get_mut("value") {
        *v = Value::from("<redacted>");
    }
    if let Some(items) = copy
        .get_mut("setVariableData")
        .and_then(Value::as_array_mut)
    {
        for item in items {
            if let Some(v) = item.get_mut("attributeValue") {
                *v = Value::from("<redacted>");
            }
        }
    }
    copy
}
