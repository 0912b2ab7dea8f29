#!/usr/bin/env bash
# Every Rust test of the workspace, in two lanes at once, each against its own serialized moto
# server: the end-to-end binary (tests/tests/e2e: whole local stacks) and everything else.
#
#   infra/scripts/test-rust.sh [ARGS passed to every `cargo test`, e.g. --no-fail-fast]
#
# One emulator is one Python process under one lock, so a run with one emulator keeps one core
# busy with it while the other mostly waits; two lanes on two emulators keep both cores busy
# (docs/development.md, "How long make test takes"). The test binaries are built first, once,
# so the lanes only run tests. Each lane's output is printed whole when it ends, the lane that
# ends first first; the script fails if either lane fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
"$ROOT/infra/scripts/python-env.sh"

cargo test --workspace --no-run "$@"

logs="$(mktemp -d "${TMPDIR:-/tmp}/vbm-test-rust.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill -- "$pid" 2>/dev/null || true
    done
    rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lane() {  # lane NAME CARGO-TEST-ARGS...: runs in the background, status in $logs/NAME.status
    local name="$1"
    shift
    (
        status=0
        infra/scripts/with-moto.sh cargo test "$@" >"$logs/$name.log" 2>&1 || status=$?
        echo "$status" >"$logs/$name.status"
    ) &
    pids+=("$!")
}

# Both lanes select from the whole workspace, so they resolve the features the build did (a
# `-p vbm-e2e` alone resolves others and rebuilds half the tree). vbm-e2e has no other test
# target (its library's `test = false`, its bin's too).
lane end-to-end --workspace --test e2e "$@"
lane workspace --workspace --exclude vbm-e2e "$@"

failed=0
printed=()
while [[ ${#printed[@]} -lt 2 ]]; do
    for name in workspace end-to-end; do
        if [[ -f "$logs/$name.status" && " ${printed[*]-} " != *" $name "* ]]; then
            status="$(cat "$logs/$name.status")"
            echo "==== cargo test, $name lane (exit status $status)"
            cat "$logs/$name.log"
            [[ "$status" == 0 ]] || failed=1
            printed+=("$name")
        fi
    done
    sleep 1
done
wait
exit "$failed"
