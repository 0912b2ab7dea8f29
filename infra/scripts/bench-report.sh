#!/usr/bin/env bash
# Puts the sections in target/bench/ (written by the bench programs) together into BENCHMARKS.md,
# under a header naming the machine. `make bench` ends with it; after running one bench program
# by hand, run it to refresh the report.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${VBM_BENCH_OUT:-$ROOT/target/bench}"

cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)"
{
    echo "# Benchmarks"
    echo
    echo "Assembled on $(date -u +%Y-%m-%d) at commit"
    echo "\`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\` from the sections in target/bench (\`make bench\` runs every program,"
    echo "then infra/scripts/bench-report.sh; a program run by hand refreshes its own section). Machine: ${cpu:-unknown CPU}, $(nproc) cores,"
    echo "$(free -g | awk '/^Mem:/ {print $2}') GiB; $(rustc --version). Times are wall-clock on this machine with the"
    echo "serialized moto emulator standing in for DynamoDB and SQS; see each section for its method."
    echo
    for section in init sdk overhead calls outbox campaign cpu size memory load soak; do
        if [[ -f "$OUT/$section.md" ]]; then
            cat "$OUT/$section.md"
        fi
    done
} >BENCHMARKS.md
echo "== make bench: wrote BENCHMARKS.md" >&2
