//! One string per 2.x setting, so profiles, diffs and the API name 1.6 keys and 2.x
//! variables alike: `Component.Variable`, with `Component[instance]`, `Component@evse` or
//! `Component@evse:connector`, and `Variable[instance]` when the station has them
//! (`EVSE@1.AvailabilityState`, `OCPPCommCtrlr.HeartbeatInterval`). The last `.` outside
//! brackets separates component from variable. Only the `Actual` attribute is read and set.

use serde_json::{Map, Value, json};

/// The key of a 2.x `component` and `variable` object (as in GetVariables, NotifyReport).
pub fn of(component: &Value, variable: &Value) -> String {
    let mut key = text(component, "name").to_owned();
    if let Some(instance) = component.get("instance").and_then(Value::as_str) {
        key.push_str(&format!("[{instance}]"));
    }
    if let Some(evse) = component.get("evse")
        && let Some(id) = evse.get("id").and_then(Value::as_i64)
    {
        key.push_str(&format!("@{id}"));
        if let Some(c) = evse.get("connectorId").and_then(Value::as_i64) {
            key.push_str(&format!(":{c}"));
        }
    }
    key.push('.');
    key.push_str(text(variable, "name"));
    if let Some(instance) = variable.get("instance").and_then(Value::as_str) {
        key.push_str(&format!("[{instance}]"));
    }
    key
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// The `component` and `variable` objects a key names; `None`, with what is wrong, when it
/// is not a key of this form.
pub fn parse(key: &str) -> Result<(Value, Value), String> {
    let split = last_dot_outside_brackets(key)
        .ok_or_else(|| format!("{key:?} has no '.' between component and variable (e.g. OCPPCommCtrlr.HeartbeatInterval)"))?;
    let (component, variable) = (&key[..split], &key[split + 1..]);
    let (component, evse) = match component.split_once('@') {
        Some((c, evse)) => (c, Some(evse)),
        None => (component, None),
    };
    let (c_name, c_instance) = name_and_instance(component, key)?;
    let (v_name, v_instance) = name_and_instance(variable, key)?;
    let mut c = Map::new();
    c.insert("name".into(), json!(c_name));
    if let Some(i) = c_instance {
        c.insert("instance".into(), json!(i));
    }
    if let Some(evse) = evse {
        let (id, connector) = match evse.split_once(':') {
            Some((id, c)) => (id, Some(c)),
            None => (evse, None),
        };
        let number = |s: &str| {
            s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                format!("{key:?}: {s:?} after '@' is not an EVSE or connector number")
            })
        };
        let mut e = Map::new();
        e.insert("id".into(), json!(number(id)?));
        if let Some(connector) = connector {
            e.insert("connectorId".into(), json!(number(connector)?));
        }
        c.insert("evse".into(), Value::Object(e));
    }
    let mut v = Map::new();
    v.insert("name".into(), json!(v_name));
    if let Some(i) = v_instance {
        v.insert("instance".into(), json!(i));
    }
    Ok((Value::Object(c), Value::Object(v)))
}

fn last_dot_outside_brackets(key: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut found = None;
    for (i, ch) in key.char_indices() {
        match ch {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => found = Some(i),
            _ => {}
        }
    }
    found
}

fn name_and_instance<'a>(part: &'a str, key: &str) -> Result<(&'a str, Option<&'a str>), String> {
    let (name, instance) = match part.split_once('[') {
        Some((name, rest)) => match rest.strip_suffix(']') {
            Some(instance) if !instance.is_empty() => (name, Some(instance)),
            _ => {
                return Err(format!(
                    "{key:?}: an instance is written [name], closed by ']'"
                ));
            }
        },
        None => (part, None),
    };
    if name.is_empty() {
        return Err(format!(
            "{key:?}: the component and the variable both need a name"
        ));
    }
    Ok((name, instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_with_instances_and_evse() {
        for key in [
            "OCPPCommCtrlr.HeartbeatInterval",
            "EVSE@1.AvailabilityState",
            "Connector@1:2.ConnectorType",
            "TxCtrlr[main].EVConnectionTimeOut[a.b]",
        ] {
            let (c, v) = parse(key).expect(key);
            assert_eq!(of(&c, &v), key);
        }
    }

    #[test]
    fn bad_keys_say_what_is_wrong() {
        assert!(
            parse("HeartbeatInterval")
                .expect_err("refused")
                .contains("no '.'")
        );
        assert!(
            parse("EVSE@x.A")
                .expect_err("refused")
                .contains("EVSE or connector number")
        );
        assert!(parse(".A").expect_err("refused").contains("need a name"));
        assert!(parse("C[.A").is_err());
    }
}
