//! A charging-station simulator that behaves like a real station, not an echo.
//!
//! [`station::Station`] is a sans-IO state machine (frames in, frames out, time as an
//! argument): registration, heartbeats, connector statuses, a meter model, transactions,
//! firmware/log status, and every TriggerMessage value of OCPP 1.6J (with the security
//! extension's ExtendedTriggerMessage) and 2.0.1 answered by the spec's rules, with fault
//! injection for the failures real firmware shows. [`runner`] drives stations over real
//! WebSockets; [`fleet`] runs thousands of them as a load generator.

mod authorization;
pub mod clock;
pub mod config;
pub mod csr;
pub mod faults;
pub mod fleet;
pub mod local_list;
pub mod messages;
pub mod model;
pub mod operations;
pub mod runner;
pub mod station;
pub mod tls;
pub mod triggers;
pub mod upload;

pub use clock::Now;
pub use config::StationConfig;
pub use faults::{Faults, OperationFault, TriggerFault};
pub use station::{Output, Station, Upload};
