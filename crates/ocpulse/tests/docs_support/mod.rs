//! Support of `docs_examples.rs`: reading the marked examples of a page, turning a curl
//! command into a request, comparing an answer with the output a page shows, and laying
//! an answer out as `jq .` prints it.

pub mod curl;
pub mod layout;
pub mod markdown;
pub mod matching;
