//! What `curl ... | jq .` prints: the server's JSON indented, its keys in the server's order.
//!
//! `serde_json::Value` sorts object keys, so it cannot tell whether a page shows the keys
//! in the order a reader will see them; `Ordered` keeps them as written.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// JSON with its object keys in the order they were written.
#[derive(Debug, Clone, PartialEq)]
pub enum Ordered {
    /// A string, number, boolean or null.
    Scalar(Value),
    /// An array.
    Array(Vec<Ordered>),
    /// An object, keys in order.
    Object(Vec<(String, Ordered)>),
}

/// `text` as `jq .` prints it (two-space indent, keys as written).
pub fn jq(text: &str) -> Result<String, String> {
    let parsed: Ordered = serde_json::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&parsed).map_err(|e| e.to_string())
}

/// The first place where `page` and `answer` name keys in another order (both already
/// known to hold the same keys), as a sentence; `None` when the order is the same.
pub fn order_diff(page: &str, answer: &str) -> Option<String> {
    let page: Ordered = serde_json::from_str(page).ok()?;
    let answer: Ordered = serde_json::from_str(answer).ok()?;
    first_order_diff(&page, &answer, "$")
}

fn first_order_diff(page: &Ordered, answer: &Ordered, path: &str) -> Option<String> {
    match (page, answer) {
        (Ordered::Object(p), Ordered::Object(a)) => {
            let (pk, ak): (Vec<&str>, Vec<&str>) = (
                p.iter().map(|(k, _)| k.as_str()).collect(),
                a.iter().map(|(k, _)| k.as_str()).collect(),
            );
            if pk != ak {
                return Some(format!(
                    "{path}: keys in the order {pk:?}, the server prints {ak:?}"
                ));
            }
            p.iter()
                .zip(a)
                .find_map(|((k, pv), (_, av))| first_order_diff(pv, av, &format!("{path}.{k}")))
        }
        (Ordered::Array(p), Ordered::Array(a)) => p
            .iter()
            .zip(a)
            .enumerate()
            .find_map(|(i, (pv, av))| first_order_diff(pv, av, &format!("{path}[{i}]"))),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::from(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::from(v)))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::from(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::String(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::String(v)))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::Null))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Ordered, E> {
        Ok(Ordered::Scalar(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Ordered::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry()? {
            entries.push((key, value));
        }
        Ok(Ordered::Object(entries))
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Ordered::Scalar(v) => v.serialize(serializer),
            Ordered::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Ordered::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_order_and_the_layout_is_jqs() {
        let text = r#"{"z":1,"a":{"y":[1,{"b":null,"a":"x"}],"x":[]},"m":{}}"#;
        assert_eq!(
            jq(text).expect("json"),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"y\": [\n      1,\n      {\n        \"b\": null,\n        \"a\": \"x\"\n      }\n    ],\n    \"x\": []\n  },\n  \"m\": {}\n}"
        );
    }

    #[test]
    fn another_order_is_found_where_it_is() {
        assert_eq!(
            order_diff(
                r#"{"a":1,"b":[{"x":1,"y":2}]}"#,
                r#"{"a":1,"b":[{"x":1,"y":2}]}"#
            ),
            None
        );
        let diff = order_diff(
            r#"{"a":1,"b":[{"x":1,"y":2}]}"#,
            r#"{"a":1,"b":[{"y":2,"x":1}]}"#,
        )
        .expect("a difference");
        assert!(diff.starts_with("$.b[0]:"), "{diff}");
    }
}
