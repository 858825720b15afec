//! Replays the `csr` fuzz target's corpus (`fuzz/corpus/csr`, minimized by
//! `cargo fuzz cmin`; every crash found is added) through the same entry point the fuzzer
//! calls, so CI checks on stable what the fuzzer checked on nightly.

#[test]
fn every_csr_corpus_input_holds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/csr");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 10,
        "{}: only {} inputs",
        dir.display(),
        inputs.len()
    );
    for input in inputs {
        let data = std::fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let replayed = std::panic::catch_unwind(|| ocpulse_ca::fuzzing::csr(&data));
        assert!(replayed.is_ok(), "{} fails", input.display());
    }
}
