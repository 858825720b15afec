//! Fuzz target `pipeline`: a script of station frames, triggers and time through one server session
//! (validation, answers, state, journal). The checks are in `ocpulse_core::fuzzing::pipeline`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocpulse_core::fuzzing::pipeline(data));
