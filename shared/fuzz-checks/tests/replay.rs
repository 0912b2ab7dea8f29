//! Replays the committed fuzz corpus and every crash input kept as a regression through the same
//! checks the fuzz targets run, so `cargo test` holds what fuzzing found without a fuzzer.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of one folder, sorted; none when the folder does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file through `check`; returns the ones that panicked, with the message.
fn failures(check: vbm_fuzz_checks::Check, files: &[PathBuf]) -> Vec<String> {
    let mut failed = Vec::new();
    for file in files {
        let data = match fs::read(file) {
            Ok(data) => data,
            Err(e) => {
                failed.push(format!("{}: unreadable: {e}", file.display()));
                continue;
            }
        };
        if let Err(payload) = panic::catch_unwind(|| check(&data)) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {message}", file.display()));
        }
    }
    failed
}

#[test]
fn every_corpus_and_regression_input_passes_its_checks() {
    let mut failed = Vec::new();
    for (target, check) in vbm_fuzz_checks::TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(target));
        // A missing or emptied seed corpus would make this test pass on nothing.
        assert!(
            corpus.len() >= 5,
            "fuzz/corpus/{target} has {} inputs",
            corpus.len()
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(target));
        failed.extend(failures(check, &corpus));
        failed.extend(failures(check, &regressions));
    }
    assert!(
        failed.is_empty(),
        "{} inputs failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn a_broken_invariant_is_reported_with_its_file() {
    // The replay must see a check's panic as a failure, not as a pass.
    let dir = fuzz_dir().join("corpus").join("phone_country");
    let files = inputs(&dir);
    let failed = failures(|_| panic!("invariant broken"), &files[..files.len().min(1)]);
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("invariant broken"), "{}", failed[0]);
}
