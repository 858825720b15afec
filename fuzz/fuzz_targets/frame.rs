//! Fuzz target `frame`: one WebSocket text message through the OCPP-J frame decoder. The checks are
//! in `ocpp_rpc::fuzzing::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocpp_rpc::fuzzing::frame(data));
