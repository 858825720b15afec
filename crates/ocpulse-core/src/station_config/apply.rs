//! Applying settings: the CALLs that set them in the station's version, and what each
//! answer says about each key. `RebootRequired` is reported as such, never as success
//! hidden behind "Accepted".

use ocpp_rpc::Family;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::key;

/// One CALL to send: its action, its payload and the keys it sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyCall {
    /// `ChangeConfiguration` or `SetVariables`.
    pub action: &'static str,
    /// The payload.
    pub payload: Value,
    /// The keys it sets, in payload order.
    pub keys: Vec<String>,
}

/// What the station said about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyResult {
    /// The key.
    pub key: String,
    /// The value sent.
    pub value: String,
    /// The station's status: `Accepted`, `RebootRequired`, `Rejected`, `NotSupported`
    /// (1.6), `UnknownComponent` / `UnknownVariable` (2.x), or what went wrong with the CALL
    /// (`CallError`, `Timeout`, ...).
    pub status: String,
}

/// The CALLs that set `settings` (key, value) in `family`: one ChangeConfiguration per key
/// in 1.6; SetVariables of at most `per_message` keys each in 2.x (the station's
/// `ItemsPerMessageSetVariables`). A 2.x key that does not parse is an error naming it.
pub fn apply_calls(
    family: Family,
    settings: &[(String, String)],
    per_message: usize,
) -> Result<Vec<ApplyCall>, String> {
    match family {
        Family::V16 => Ok(settings
            .iter()
            .map(|(k, v)| ApplyCall {
                action: "ChangeConfiguration",
                payload: json!({"key": k, "value": v}),
                keys: vec![k.clone()],
            })
            .collect()),
        Family::V2 => settings
            .chunks(per_message.max(1))
            .map(|chunk| {
                let data = chunk
                    .iter()
                    .map(|(k, v)| {
                        let (component, variable) = key::parse(k)?;
                        Ok(json!({"attributeValue": v, "component": component, "variable": variable}))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(ApplyCall {
                    action: "SetVariables",
                    payload: json!({"setVariableData": data}),
                    keys: chunk.iter().map(|(k, _)| k.clone()).collect(),
                })
            })
            .collect(),
    }
}

/// Each key's status from the station's answer to `call`; a key the answer does not
/// mention is `NoResult`.
pub fn read_apply_answer(call: &ApplyCall, response: &Value) -> Vec<(String, String)> {
    match call.action {
        "ChangeConfiguration" => {
            let status = response
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("NoResult");
            call.keys
                .iter()
                .map(|k| (k.clone(), status.to_owned()))
                .collect()
        }
        _ => {
            let results: Vec<(String, String)> = response
                .get("setVariableResult")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        key::of(&r["component"], &r["variable"]),
                        r.get("attributeStatus")
                            .and_then(Value::as_str)
                            .unwrap_or("NoResult")
                            .to_owned(),
                    )
                })
                .collect();
            call.keys
                .iter()
                .map(|k| {
                    let status = results
                        .iter()
                        .find(|(rk, _)| rk == k)
                        .map_or("NoResult", |(_, s)| s.as_str());
                    (k.clone(), status.to_owned())
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn one_change_configuration_per_key_in_1_6() {
        let calls =
            apply_calls(Family::V16, &settings(&[("A", "1"), ("B", "2")]), 10).expect("calls");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].payload, json!({"key": "B", "value": "2"}));
        let r = read_apply_answer(&calls[0], &json!({"status": "RebootRequired"}));
        assert_eq!(r, [("A".to_owned(), "RebootRequired".to_owned())]);
    }

    #[test]
    fn set_variables_are_chunked_and_read_back_per_key() {
        let s = settings(&[("C.A", "1"), ("C.B", "2"), ("EVSE@1.C", "3")]);
        let calls = apply_calls(Family::V2, &s, 2).expect("calls");
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[1].payload["setVariableData"][0]["component"],
            json!({"name": "EVSE", "evse": {"id": 1}})
        );
        let answer = json!({"setVariableResult": [
            {"attributeStatus": "RebootRequired", "component": {"name": "C"}, "variable": {"name": "B"}},
            {"attributeStatus": "Accepted", "component": {"name": "C"}, "variable": {"name": "A"}}
        ]});
        let r = read_apply_answer(&calls[0], &answer);
        assert_eq!(r[0], ("C.A".to_owned(), "Accepted".to_owned()));
        assert_eq!(r[1], ("C.B".to_owned(), "RebootRequired".to_owned()));
        assert!(apply_calls(Family::V2, &settings(&[("bad", "1")]), 2).is_err());
    }
}
