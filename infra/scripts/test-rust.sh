#!/usr/bin/env bash
# Every Rust test of the workspace, in lanes at once, each lane against its own serialized moto
# server; a test binary that passed with the same inputs before is not run again.
#
#   infra/scripts/test-rust.sh [ARGS passed to every test binary, e.g. a test name filter]
#
# One emulator is one Python process under one lock, so with one emulator one core is busy
# with it while the other mostly waits; lanes on their own emulators keep both cores busy
# (docs/development.md, "How long make test takes"). The binaries are built once, here, for the
# whole workspace; infra/scripts/test_results.py runs them (VBM_TEST_LANES lanes, default 2;
# VBM_TEST_REUSE=0 runs every binary, passed before or not).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
"$ROOT/infra/scripts/python-env.sh"

cargo test --workspace --no-run
exec "$ROOT/.venv/bin/python" "$ROOT/infra/scripts/test_results.py" rust "$@"
