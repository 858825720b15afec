//! Reading a configuration: the answers of 1.6 GetConfiguration and 2.x GetVariables, and
//! the NotifyReport parts a 2.x GetBaseReport brings, assembled by `requestId`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{ConfigEntry, key};

/// The settings and unknown keys of a 1.6 GetConfiguration answer.
pub fn from_get_configuration(response: &Value) -> (BTreeMap<String, ConfigEntry>, Vec<String>) {
    let entries = response
        .get("configurationKey")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| {
            let name = k.get("key")?.as_str()?.to_owned();
            Some((
                name,
                ConfigEntry {
                    value: k.get("value").and_then(Value::as_str).map(str::to_owned),
                    readonly: k.get("readonly").and_then(Value::as_bool).unwrap_or(false),
                },
            ))
        })
        .collect();
    let unknown = strings(response.get("unknownKey"));
    (entries, unknown)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The 2.x GetVariables payloads asking for the `Actual` value of each key, at most
/// `per_message` keys each. Every key is read before any payload is made, so an
/// unreadable key (refused with what is wrong with it) stops a read before a first part
/// could be sent.
pub fn get_variables_requests(keys: &[String], per_message: usize) -> Result<Vec<Value>, String> {
    let data = keys
        .iter()
        .map(|k| {
            let (component, variable) = key::parse(k)?;
            Ok(json!({"component": component, "variable": variable}))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(data
        .chunks(per_message.max(1))
        .map(|chunk| json!({"getVariableData": chunk}))
        .collect())
}

/// The settings and unknown keys of a 2.x GetVariables answer (read-only is not told by
/// GetVariables: a full report says it).
pub fn from_get_variables(response: &Value) -> (BTreeMap<String, ConfigEntry>, Vec<String>) {
    let mut entries = BTreeMap::new();
    let mut unknown = Vec::new();
    for r in response
        .get("getVariableResult")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = key::of(&r["component"], &r["variable"]);
        match r.get("attributeStatus").and_then(Value::as_str) {
            Some("Accepted") => {
                entries.insert(
                    name,
                    ConfigEntry {
                        value: r
                            .get("attributeValue")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        readonly: false,
                    },
                );
            }
            Some("UnknownComponent" | "UnknownVariable") => unknown.push(name),
            _ => {}
        }
    }
    (entries, unknown)
}

/// The parts of one 2.x report (GetBaseReport, GetReport), gathered as NotifyReport CALLs
/// arrive: complete once the part with `tbc: false` and every part before it are in.
#[derive(Debug, Clone)]
pub struct ReportAssembly {
    request_id: i64,
    parts: BTreeMap<i64, Vec<Value>>,
    last_seq: Option<i64>,
}

impl ReportAssembly {
    /// Waits for the report answering the request with this id.
    pub fn new(request_id: i64) -> Self {
        Self {
            request_id,
            parts: BTreeMap::new(),
            last_seq: None,
        }
    }

    /// Takes a NotifyReport payload if it belongs to this report; tells whether it did.
    /// A part seen twice (a station resending after a lost answer) counts once.
    pub fn offer(&mut self, payload: &Value) -> bool {
        if payload.get("requestId").and_then(Value::as_i64) != Some(self.request_id) {
            return false;
        }
        let seq = payload.get("seqNo").and_then(Value::as_i64).unwrap_or(0);
        let data = payload
            .get("reportData")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        self.parts.insert(seq, data);
        if !payload.get("tbc").and_then(Value::as_bool).unwrap_or(false) {
            self.last_seq = Some(seq);
        }
        true
    }

    /// Whether every part has arrived.
    pub fn is_complete(&self) -> bool {
        self.last_seq.is_some_and(|last| {
            let have: BTreeSet<i64> = self.parts.keys().copied().collect();
            (0..=last).all(|s| have.contains(&s))
        })
    }

    /// How many parts have arrived.
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// The settings the parts so far report: each variable's `Actual` attribute (or its
    /// only one), its value and whether it is read-only.
    pub fn entries(&self) -> BTreeMap<String, ConfigEntry> {
        let mut out = BTreeMap::new();
        for data in self.parts.values().flatten() {
            let attrs = data
                .get("variableAttribute")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let actual = attrs
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str).unwrap_or("Actual") == "Actual");
            let Some(attr) = actual else { continue };
            out.insert(
                key::of(&data["component"], &data["variable"]),
                ConfigEntry {
                    value: attr.get("value").and_then(Value::as_str).map(str::to_owned),
                    readonly: attr.get("mutability").and_then(Value::as_str) == Some("ReadOnly"),
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_variables_requests_check_every_key_before_making_any_part() {
        let mut keys: Vec<String> = (0..25).map(|i| format!("Ctrlr.Var{i}")).collect();
        let parts = get_variables_requests(&keys, 20).expect("valid keys");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0]["getVariableData"].as_array().map(Vec::len),
            Some(20)
        );
        assert_eq!(
            parts[1]["getVariableData"][4],
            json!({"component": {"name": "Ctrlr"}, "variable": {"name": "Var24"}})
        );
        keys[22] = "NoDot".into();
        let why = get_variables_requests(&keys, 20).expect_err("a bad key in the second part");
        assert!(why.contains("\"NoDot\""), "{why}");
    }

    #[test]
    fn get_configuration_reads_keys_values_and_unknowns() {
        let (entries, unknown) = from_get_configuration(&json!({
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": false, "value": "300"},
                {"key": "SupportedFeatureProfiles", "readonly": true, "value": "Core"},
                {"key": "AuthorizationKey", "readonly": false}
            ],
            "unknownKey": ["Nope"]
        }));
        assert_eq!(entries["HeartbeatInterval"].value.as_deref(), Some("300"));
        assert!(entries["SupportedFeatureProfiles"].readonly);
        assert_eq!(entries["AuthorizationKey"].value, None);
        assert_eq!(unknown, ["Nope"]);
    }

    #[test]
    fn get_variables_round_trips_keys() {
        let keys = vec![
            "OCPPCommCtrlr.HeartbeatInterval".to_owned(),
            "X.Y".to_owned(),
        ];
        let requests = get_variables_requests(&keys, 20).expect("request");
        assert_eq!(
            requests[0]["getVariableData"][0]["component"]["name"],
            "OCPPCommCtrlr"
        );
        let (entries, unknown) = from_get_variables(&json!({"getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "60",
             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
            {"attributeStatus": "UnknownComponent", "component": {"name": "X"}, "variable": {"name": "Y"}}
        ]}));
        assert_eq!(
            entries["OCPPCommCtrlr.HeartbeatInterval"].value.as_deref(),
            Some("60")
        );
        assert_eq!(unknown, ["X.Y"]);
        assert!(get_variables_requests(&["NoDot".into()], 20).is_err());
    }

    fn part(request_id: i64, seq: i64, tbc: bool, var: &str) -> Value {
        json!({"requestId": request_id, "seqNo": seq, "tbc": tbc, "generatedAt": "2026-01-01T00:00:00Z",
               "reportData": [{"component": {"name": "C"}, "variable": {"name": var},
                               "variableAttribute": [{"type": "Actual", "value": "v", "mutability": "ReadOnly"},
                                                     {"type": "Target", "value": "t"}]}]})
    }

    #[test]
    fn a_report_is_complete_only_with_every_part_in_any_order() {
        let mut r = ReportAssembly::new(7);
        assert!(!r.offer(&part(8, 0, false, "Other")));
        assert!(r.offer(&part(7, 1, false, "B")));
        assert!(!r.is_complete(), "part 0 is missing");
        assert!(r.offer(&part(7, 0, true, "A")));
        assert!(r.offer(&part(7, 0, true, "A")));
        assert!(r.is_complete());
        assert_eq!(r.parts(), 2);
        let entries = r.entries();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries["C.A"].value.as_deref(), Some("v"));
        assert!(entries["C.A"].readonly);
    }
}
