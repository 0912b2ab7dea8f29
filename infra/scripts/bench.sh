#!/usr/bin/env bash
# `make bench`: builds the release binaries, runs every benchmark and writes BENCHMARKS.md.
#
# Each bench program prints its table and writes a Markdown section to target/bench/<name>.md;
# this script runs them in order (the emulator ones under with-moto.sh, each against its own
# fresh table and queues) and puts the sections together under a header naming the machine.
# Benchmarks print figures; nothing here fails on a slow figure, only on a broken run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="$ROOT/target/bench"
rm -rf "$OUT"
mkdir -p "$OUT"
export VBM_BENCH_OUT="$OUT"

infra/scripts/python-env.sh

echo "== make bench: release binaries (first time: several minutes)" >&2
# The functions on their own, as `make package` builds them: built together with the local
# server and the bench programs, Cargo would unify their features (reqwest's own TLS provider,
# aws-config's HTTPS client) into the functions' binaries, and bench-size would measure those.
cargo build --release --quiet \
    -p send -p inbound -p status -p dispatch -p notify -p relay -p failover -p lifecycle -p campaign
cargo build --release --quiet -p vbm-dev -p vbm-bench
bin="$ROOT/target/release"

echo "== criterion: the pure send path" >&2
cargo bench --quiet -p session-rules --bench send_decision -- --noplot
"$bin/bench-cpu"
"$bin/bench-size"

# Against the serialized emulator, one server per program.
for program in bench-init bench-sdk bench-send bench-load bench-campaign; do
    echo "== $program" >&2
    infra/scripts/with-moto.sh "$bin/$program"
done

infra/scripts/bench-report.sh
