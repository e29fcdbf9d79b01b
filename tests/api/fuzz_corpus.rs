//! The fuzzers' minimized corpora (`fuzz/corpus/<target>/`) replayed on stable: every file goes
//! to the entry point its target drives (`fuzz/harness.rs`, compiled here as it is there), so a
//! finding fixed once stays fixed without a nightly toolchain or a fuzzing run in CI.

#[path = "../../fuzz/harness.rs"]
mod harness;

use crate::helpers::repo_path;

/// A fuzz target's name (its corpus directory) and the function it drives.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 5] = [
    ("form", harness::form),
    ("json", harness::json),
    ("xml", harness::xml),
    ("negotiate", harness::negotiate),
    ("profile", harness::profile),
];

#[test]
fn every_corpus_file_is_answered_without_a_panic() {
    let mut panicked = Vec::new();
    for (target, entry) in TARGETS {
        let dir = repo_path(&format!("fuzz/corpus/{target}"));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} is empty", dir.display());
        for file in files {
            let data = std::fs::read(&file).expect("corpus file");
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                panicked.push(file.display().to_string());
            }
        }
    }
    assert!(panicked.is_empty(), "panicked on: {panicked:#?}");
}
