//! Shared helpers for the payload tests: example tables, schema loading, checks.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeSet;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Root of the official schema folders (`v16/`, `v201/`).
pub const SCHEMA_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/ocpp/");

/// One example payload, the schema file it must satisfy and the type it maps to.
pub struct Example {
    /// Schema file relative to [`SCHEMA_ROOT`], e.g. `v16/BootNotification.json`.
    pub schema: &'static str,
    /// Name of the Rust type, for failure messages.
    pub type_name: &'static str,
    /// The payload as JSON text.
    pub json: &'static str,
    /// Parses into the Rust type and serializes it back.
    pub reserialize: fn(&Value) -> Result<Value, serde_json::Error>,
}

impl Example {
    /// The example payload parsed as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.json)
            .unwrap_or_else(|e| panic!("{} example is not JSON: {e}", self.schema))
    }

    /// Label used in failure messages.
    pub fn label(&self) -> String {
        format!("{} ({}) example {}", self.type_name, self.schema, self.json)
    }
}

/// Parses `value` as `T` and serializes it back to a JSON value.
pub fn reserialize<T: Serialize + DeserializeOwned>(
    value: &Value,
) -> Result<Value, serde_json::Error> {
    let typed: T = serde_json::from_value(value.clone())?;
    serde_json::to_value(&typed)
}

/// Builds an [`Example`] for type `$ty`, schema file `$schema`, payload `$json`.
macro_rules! example {
    ($ty:ty, $schema:literal, $json:literal) => {
        $crate::support::Example {
            schema: $schema,
            type_name: stringify!($ty),
            json: $json,
            reserialize: $crate::support::reserialize::<$ty>,
        }
    };
}

/// Reads and parses a schema file relative to [`SCHEMA_ROOT`].
pub fn load_schema(file: &str) -> Value {
    let path = format!("{SCHEMA_ROOT}{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Schema-validation errors of `instance` against `file` (formats checked).
pub fn schema_errors(file: &str, instance: &Value) -> Vec<String> {
    let schema = load_schema(file);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("compile {file}: {e}"));
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Asserts every example round-trips through its type to the identical JSON value.
pub fn assert_round_trips(examples: &[Example]) {
    for ex in examples {
        let original = ex.value();
        let again = (ex.reserialize)(&original)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", ex.label()));
        assert_eq!(again, original, "{} changed on round trip", ex.label());
    }
}

/// Asserts every example validates against its official schema.
pub fn assert_schema_valid(examples: &[Example]) {
    for ex in examples {
        let errors = schema_errors(ex.schema, &ex.value());
        assert!(errors.is_empty(), "{} invalid: {errors:?}", ex.label());
    }
}

/// Asserts an unknown top-level key is accepted and dropped on re-serialization.
pub fn assert_unknown_field_tolerated(examples: &[Example]) {
    for ex in examples {
        let original = ex.value();
        let mut with_extra = original.clone();
        let Value::Object(map) = &mut with_extra else {
            panic!("{} is not an object", ex.label());
        };
        map.insert(
            "vendorQuirkField".to_owned(),
            serde_json::json!({ "nested": [1, 2, 3] }),
        );
        let again = (ex.reserialize)(&with_extra)
            .unwrap_or_else(|e| panic!("{} rejected an unknown field: {e}", ex.label()));
        assert_eq!(again, original, "{} with unknown field", ex.label());
    }
}

/// Asserts no re-serialized example contains a JSON `null` anywhere.
pub fn assert_no_nulls_serialized(examples: &[Example]) {
    fn has_null(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Array(items) => items.iter().any(has_null),
            Value::Object(map) => map.values().any(has_null),
            _ => false,
        }
    }
    for ex in examples {
        let again = (ex.reserialize)(&ex.value())
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", ex.label()));
        assert!(
            !has_null(&again),
            "{} serialized a null: {again}",
            ex.label()
        );
    }
}

/// Asserts that the examples cover exactly the given schema files.
pub fn assert_covers_exactly(examples: &[Example], expected: &[String]) {
    let covered: BTreeSet<&str> = examples.iter().map(|e| e.schema).collect();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    let missing: Vec<_> = expected.difference(&covered).collect();
    let extra: Vec<_> = covered.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "examples missing for {missing:?}; unexpected schemas {extra:?}"
    );
    for file in &expected {
        assert!(
            std::path::Path::new(&format!("{SCHEMA_ROOT}{file}")).is_file(),
            "schema file {file} does not exist"
        );
    }
}

/// Looks up the `enum` array at `pointer` in `file` as strings.
pub fn schema_enum(file: &str, pointer: &str) -> Vec<String> {
    let schema = load_schema(file);
    let values = schema
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no enum at {file}#{pointer}"));
    values
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("non-string enum value in {file}"))
                .to_owned()
        })
        .collect()
}

/// Asserts `all` equals the schema enum (same values, same order) and that
/// serde, `as_str` and `Display` agree on every spelling.
pub fn assert_enum_matches_schema<T>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    file: &str,
    pointer: &str,
) where
    T: Copy + Debug + PartialEq + Serialize + DeserializeOwned + std::fmt::Display,
{
    let ours: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
    let theirs = schema_enum(file, pointer);
    assert_eq!(ours, theirs, "ALL differs from {file}#{pointer}");
    for value in all {
        let wire = serde_json::to_value(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_eq!(wire, Value::String(as_str(*value).to_owned()));
        assert_eq!(value.to_string(), as_str(*value));
        let back: T = serde_json::from_value(wire).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_eq!(back, *value);
    }
}

/// Checks an enum type against the schema: `check_enum!(Type, "file", "/pointer")`.
macro_rules! check_enum {
    ($ty:ty, $file:expr, $pointer:expr) => {
        $crate::support::assert_enum_matches_schema::<$ty>(
            <$ty>::ALL,
            <$ty>::as_str,
            $file,
            &$pointer,
        )
    };
}
