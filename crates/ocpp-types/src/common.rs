//! Items shared by the OCPP 1.6 and 2.0.1 modules.

/// An RFC 3339 / ISO 8601 date-time as sent on the wire (e.g. `2025-01-01T12:00:00Z`).
///
/// Kept as text: the schema validator checks the `date-time` format, and
/// handlers parse it only where they need the instant.
pub type DateTime = String;
