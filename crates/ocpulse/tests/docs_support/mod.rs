//! Support of `docs_examples.rs`: reading the marked examples of a page, turning a curl
//! command into a request, and comparing an answer with the output a page shows.

pub mod curl;
pub mod markdown;
pub mod matching;
