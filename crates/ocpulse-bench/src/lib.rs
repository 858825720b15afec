//! `ocpulse bench`: ocpulse, peer CSMSs built on the Python `ocpp` package and npm
//! `ocpp-rpc`, and a null server, each run in turn under the same load from a Rust driver
//! built on the simulator, with the results as a markdown table and JSON lines.

pub mod cluster;
pub mod http_caller;
pub mod null_server;
pub mod procstat;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod targets;
