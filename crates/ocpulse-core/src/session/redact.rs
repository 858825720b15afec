//! Secrets a CSMS CALL may carry, kept out of the journal and out of stored call records.

use serde_json::Value;

const REDACTED: &str = "<redacted>";

/// A copy of a CALL payload with its secret values replaced: the `value` of a 1.6
/// ChangeConfiguration and every `attributeValue` of a 2.0.1 SetVariables, so a new
/// password sent to a station is never journaled. For a CALL known to carry a secret (a
/// station password change); [`secrets_redacted`] finds them in any CALL.
pub fn redacted(payload: &Value) -> Value {
    let mut copy = payload.clone();
    if let Some(v) = copy.get_mut("value") {
        *v = Value::from(REDACTED);
    }
    if let Some(items) = copy
        .get_mut("setVariableData")
        .and_then(Value::as_array_mut)
    {
        for item in items {
            if let Some(v) = item.get_mut("attributeValue") {
                *v = Value::from(REDACTED);
            }
        }
    }
    copy
}

/// Whether a configuration key or variable name holds a secret: the 1.6 security
/// extension's `AuthorizationKey`, 2.x `BasicAuthPassword`, and any name that says
/// password, secret, PIN or private key (vendor keys included).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "authorizationkey"
        || lower.contains("password")
        || lower.contains("secret")
        || lower.ends_with("pin")
        || lower.contains("privatekey")
}

/// A copy of the payload of a CSMS CALL `action` with its secrets replaced, or `None` when
/// it carries none: a 1.6 ChangeConfiguration of a secret key, the secret variables of a
/// 2.x SetVariables (`attributeValue`), and the passwords, keys and PINs of a 2.x
/// SetNetworkProfile. Cheap for every other action (one comparison).
pub fn secrets_redacted(action: &str, payload: &Value) -> Option<Value> {
    let mut copy = payload.clone();
    let changed = match action {
        "ChangeConfiguration" => {
            let secret = copy
                .get("key")
                .and_then(Value::as_str)
                .is_some_and(is_secret_name);
            secret && replace(copy.get_mut("value"))
        }
        "SetVariables" => {
            let mut any = false;
            for item in copy
                .get_mut("setVariableData")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let secret = item
                    .pointer("/variable/name")
                    .and_then(Value::as_str)
                    .is_some_and(is_secret_name);
                any |= secret && replace(item.get_mut("attributeValue"));
            }
            any
        }
        "SetNetworkProfile" => copy
            .get_mut("connectionData")
            .is_some_and(redact_secret_fields),
        _ => false,
    };
    changed.then_some(copy)
}

fn replace(value: Option<&mut Value>) -> bool {
    match value {
        Some(v) => {
            *v = Value::from(REDACTED);
            true
        }
        None => false,
    }
}

/// Replaces every field whose name is a secret's (or a VPN's `key`), at any depth.
fn redact_secret_fields(value: &mut Value) -> bool {
    let Some(map) = value.as_object_mut() else {
        return false;
    };
    let mut any = false;
    let vpn_like = map.contains_key("server") && map.contains_key("password");
    for (name, v) in map.iter_mut() {
        if v.is_object() {
            any |= redact_secret_fields(v);
        } else if is_secret_name(name) || (vpn_like && name == "key") {
            *v = Value::from(REDACTED);
            any = true;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_and_variables_are_redacted_and_the_rest_kept() {
        let r = secrets_redacted(
            "ChangeConfiguration",
            &json!({"key": "AuthorizationKey", "value": "0011223344556677"}),
        );
        assert_eq!(
            r,
            Some(json!({"key": "AuthorizationKey", "value": "<redacted>"}))
        );
        assert_eq!(
            secrets_redacted(
                "ChangeConfiguration",
                &json!({"key": "HeartbeatInterval", "value": "60"})
            ),
            None
        );
        let r = secrets_redacted(
            "SetVariables",
            &json!({"setVariableData": [
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}, "attributeValue": "s3cret-pass-word"},
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}, "attributeValue": "60"}
            ]}),
        )
        .expect("a secret");
        assert_eq!(r["setVariableData"][0]["attributeValue"], "<redacted>");
        assert_eq!(r["setVariableData"][1]["attributeValue"], "60");
        assert_eq!(secrets_redacted("Reset", &json!({"type": "Hard"})), None);
    }

    #[test]
    fn network_profile_passwords_keys_and_pins_are_redacted() {
        let r = secrets_redacted(
            "SetNetworkProfile",
            &json!({"configurationSlot": 1, "connectionData": {
                "ocppCsmsUrl": "wss://csms.example/ocpp", "basicAuthPassword": "pw1",
                "vpn": {"server": "vpn", "user": "u", "password": "pw2", "key": "k", "type": "IPSec"},
                "apn": {"apn": "internet", "apnPassword": "pw3", "simPin": 1234, "apnAuthentication": "AUTO"}
            }}),
        )
        .expect("secrets");
        let c = &r["connectionData"];
        assert_eq!(c["ocppCsmsUrl"], "wss://csms.example/ocpp");
        for p in [
            "/basicAuthPassword",
            "/vpn/password",
            "/vpn/key",
            "/apn/apnPassword",
            "/apn/simPin",
        ] {
            assert_eq!(c.pointer(p), Some(&json!("<redacted>")), "{p}");
        }
        assert_eq!(c["vpn"]["user"], "u");
    }
}
