//! Fuzz target `api`: one HTTP request (method, path, query string, JSON body) through the whole
//! API router. The checks are in `ocpulse::api::fuzzing::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocpulse::api::fuzzing::request(data));
