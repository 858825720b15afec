//! Fuzz target `csr`: a station's CSR through reading, verifying and signing. The checks are in
//! `ocpulse_ca::fuzzing::csr`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocpulse_ca::fuzzing::csr(data));
