//! The documented `vbmctl` sessions, run: every sh block of the README and `docs/` marked
//! `<!-- docs-check: vbmctl -->` runs with this build's `vbmctl` against a fresh table on the
//! emulator and must print what the document shows (`vbm_testkit::docs`).

use std::path::PathBuf;

use vbm_testkit::TestEnv;
use vbm_testkit::docs::{self, Check, Runner};

#[test]
fn the_documented_vbmctl_sessions_run() {
    let blocks: Vec<_> = docs::blocks()
        .into_iter()
        .filter(|b| b.check == Check::Vbmctl)
        .collect();
    assert!(!blocks.is_empty(), "no vbmctl blocks found");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_vbmctl"));
    for block in &blocks {
        let env = TestEnv::fresh();
        let runner = Runner {
            // The reader's table and region: this test's.
            provided: vec![
                ("VBM_TABLE".into(), env.table.clone()),
                ("AWS_REGION".into(), "us-east-1".into()),
            ],
            replace: vec![("target/release/vbmctl".into(), "vbmctl".into())],
            path: binary.parent().map(PathBuf::from),
            env: Vec::new(),
        };
        runner.run(block);
    }
}
