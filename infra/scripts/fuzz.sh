#!/usr/bin/env bash
# make fuzz: runs every cargo-fuzz target of fuzz/ for FUZZ_SECONDS each (default 60), prints
# the executions per target and in total, and fails if any target crashed or hung (libFuzzer's
# crash file stays under fuzz/artifacts/<target>/).
#
#   FUZZ_SECONDS=300 infra/scripts/fuzz.sh                 # longer runs
#   FUZZ_TARGETS="phone_country" infra/scripts/fuzz.sh     # some targets only
#   FUZZ_SANITIZER=address infra/scripts/fuzz.sh           # ASan (about half the speed)
#
# What libFuzzer finds grows fuzz/work-corpus/<target>/ (kept between runs, not committed);
# the committed seeds in fuzz/corpus/<target>/ are read only. A crash input, once the bug is
# fixed, goes to fuzz/regressions/<target>/: `cargo test -p vbm-fuzz-checks` replays both.
#
# Toolchain: libFuzzer's coverage flags (-Cpasses=sancov-module, -Cllvm-args) are stable, so
# with the default FUZZ_SANITIZER=none the stable toolchain builds the targets as they are.
# Nightly is used when installed (FUZZ_TOOLCHAIN=stable forces stable); on stable a sanitizer's
# -Zsanitizer needs RUSTC_BOOTSTRAP=1, set here. One target dir per toolchain under fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
targets=${FUZZ_TARGETS:-"send_request viber_callback template_render phone_country"}
toolchain=${FUZZ_TOOLCHAIN:-}
if [[ -z "$toolchain" ]]; then
    toolchain=stable
    rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null && toolchain=nightly
fi
if [[ "$toolchain" != nightly && "$sanitizer" != none ]]; then
    export RUSTC_BOOTSTRAP=1
fi
# Coverage-guided runs of the release build, with overflow checks and debug assertions on.
build_flags=(-O -a -s "$sanitizer" --target-dir "fuzz/target/$toolchain")

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (once)"
    cargo install cargo-fuzz --locked
fi

cargo_fuzz() {
    if [[ "$toolchain" == stable ]]; then
        # Whatever cargo is on PATH: a fresh machine's one toolchain may not be called stable.
        cargo fuzz "$@"
    else
        cargo "+$toolchain" fuzz "$@"
    fi
}
echo "cargo fuzz on $toolchain ($(cargo_fuzz --version 2>/dev/null)), sanitizer $sanitizer, ${seconds}s per target"

cargo_fuzz build "${build_flags[@]}"

logs=fuzz/target/logs
mkdir -p "$logs"
total=0
failed=()
rows=()
for target in $targets; do
    work=fuzz/work-corpus/$target
    mkdir -p "$work" "fuzz/artifacts/$target"
    args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    [[ -f fuzz/dicts/$target.dict ]] && args+=(-dict="fuzz/dicts/$target.dict")
    log=$logs/$target.log
    echo "fuzzing $target for ${seconds}s (log: $log)"
    status=0
    # The first corpus folder receives new inputs; the committed seeds are only read.
    cargo_fuzz run "${build_flags[@]}" "$target" "$work" "fuzz/corpus/$target" \
        -- "${args[@]}" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    runs=${runs:-0}
    total=$((total + runs))
    # libFuzzer's closing line: "#N DONE cov: C ft: F corp: K/...".
    corpus=$(sed -n 's/.*DONE .* corp: \([0-9]*\).*/\1/p' "$log" | tail -1)
    result=ok
    if [[ $status -ne 0 ]]; then
        result="FAILED (exit $status)"
        failed+=("$target")
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to' "$log" | head -8 || true
    fi
    rows+=("$(printf '%-16s %12s %10s %8s  %s' "$target" "$runs" "$((runs / seconds))" "${corpus:--}" "$result")")
done

echo
printf '%-16s %12s %10s %8s  %s\n' target executions "exec/s" corpus result
printf '%s\n' "${rows[@]}"
printf '%-16s %12s\n' total "$total"

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "crashed or hung: ${failed[*]}; inputs kept under fuzz/artifacts/<target>/" >&2
    exit 1
fi
