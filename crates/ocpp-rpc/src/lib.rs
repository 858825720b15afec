//! Sans-IO OCPP-J core.
//!
//! Everything here is pure: frames are parsed from and written to strings, schemas are
//! checked against `serde_json::Value`s, and the session and trigger state machines take
//! the current time as an argument. Sockets, clocks and storage live in the binary, so
//! every protocol rule can be tested with plain values (see ARCHITECTURE.md).

pub mod error_code;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod message_id;
pub mod outbox;
pub mod schema;
pub mod trigger;
pub mod version;

pub use error_code::ErrorCode;
pub use frame::{Frame, FrameError};
pub use schema::{PayloadKind, SchemaRegistry, Violation};
pub use version::{Family, ProtocolVersion};
