//! Typed OCPP message payloads for the ocpulse central system (CSMS).
//!
//! The RPC layer validates every incoming payload against the official OCA JSON
//! schemas (shipped in `schemas/ocpp/`) *before* it reaches these types. The
//! schemas remain the authority for validation (lengths, formats, `minItems`,
//! `additionalProperties`); the types here exist to give handlers typed,
//! field-by-field access to a payload that is already known to be valid, and to
//! build outgoing payloads without hand-writing JSON.
//!
//! Consequences of that split:
//! * No `deny_unknown_fields`: unknown keys (vendor quirks, 2.0.1 `customData`
//!   extensions) never make parsing fail.
//! * Absent optional fields are `None` and are omitted again on output — never
//!   serialized as `null` (the OCPP 2.x rule, also correct for 1.6).
//! * Timestamps are plain RFC 3339 strings ([`DateTime`]); the validator checks
//!   their format.
//! * Enumerations match the schema spellings exactly (including typos such as
//!   the 1.6 unit `"Celcius"`); every enum offers `as_str()` and an `ALL` list
//!   in schema order so callers can name the valid values in error messages.
//!
//! Modules: [`v16`] (OCPP 1.6J plus the 1.6 Security Whitepaper extension),
//! [`v201`] (OCPP 2.0.1) and [`v21`] (what OCPP 2.1 changes that ocpulse uses; shared
//! messages are read with the 2.0.1 types). All use `<Action>Request` / `<Action>Response`
//! names.

#[macro_use]
mod macros;

mod common;

pub mod v16;
pub mod v201;
pub mod v21;

pub use common::DateTime;
