//! The documented commands, run: every sh block of the README and `docs/` marked
//! `<!-- docs-check: run -->` runs against a fresh local stack and must print what the
//! document shows (`vbm_testkit::docs` has the rules); `by PATH` blocks must name commands that
//! file exercises; and no sh block goes without a marker. So the docs cannot drift.
//! Run with `infra/scripts/with-moto.sh cargo test -p vbm-e2e --test docs`.

use std::path::Path;

use vbm_e2e::Stack;
use vbm_testkit::docs::{self, Check, Runner, ShellBlock};

/// Where `make dev` listens, as the documents write it.
const MAKE_DEV: &str = "http://127.0.0.1:3000";

/// The reader's own values (variables they fill in), given by the harness; `make dev`'s address
/// replaced by the stack's.
fn runner(stack: &Stack) -> Runner {
    Runner {
        provided: vec![
            ("VBM_KEY".into(), stack.key.clone()),
            ("KEY".into(), stack.key.clone()),
            ("API".into(), stack.base.clone()),
            ("URL_SECRET".into(), "dev-viber-secret".into()),
        ],
        replace: vec![(MAKE_DEV.into(), stack.base.clone())],
        ..Runner::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_documented_local_commands_do_what_the_documents_show() {
    let blocks: Vec<ShellBlock> = docs::blocks()
        .into_iter()
        .filter(|b| matches!(b.check, Check::Run { .. }))
        .collect();
    assert!(!blocks.is_empty(), "no runnable blocks found");
    for block in &blocks {
        let stack = Stack::start().await;
        if let Check::Run { user_wrote } = &block.check {
            for phone in user_wrote {
                stack.user_writes(phone, "Hi").await;
            }
        }
        let runner = runner(&stack);
        // bash and curl block: off the runtime's worker, so the stack keeps serving.
        tokio::task::block_in_place(|| runner.run(block));
    }
}

#[test]
fn blocks_checked_elsewhere_name_commands_their_test_runs() {
    let root = docs::repo_root();
    for block in docs::blocks() {
        let Check::By(path) = &block.check else {
            continue;
        };
        let text = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("{}: `by {path}`: {e}", block.at()));
        for step in &block.steps {
            for word in subcommand(&step.command) {
                assert!(
                    text.contains(word),
                    "{}:{}: `{word}` of `{}` does not appear in {path}",
                    block.file,
                    step.line,
                    step.command
                );
            }
        }
    }
}

/// The program's name and its subcommands: the words after any `NAME=value` prefixes, up to
/// the first that is an option or an argument (not all lowercase letters and dashes).
fn subcommand(command: &str) -> Vec<&str> {
    command
        .split_whitespace()
        .skip_while(|w| w.contains('='))
        .take_while(|w| {
            !w.starts_with('-')
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'/' || b == b'.')
        })
        .map(|w| {
            Path::new(w)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(w)
        })
        .collect()
}

#[test]
fn every_sh_block_says_how_it_is_checked() {
    // docs::blocks panics, naming the block, on one without a marker.
    let blocks = docs::blocks();
    let aws = blocks.iter().filter(|b| b.check == Check::Aws).count();
    assert!(blocks.len() > aws, "every block marked aws?");
}
