#!/usr/bin/env bash
# API fuzzing: schemathesis generates requests from openapi.yaml and sends them, authenticated
# as the demo business, to a local server (vbm-dev: the real `send` handler) on a free port,
# against a fresh table and queues on the serialized emulator. Every response must be
# documented (status, content type, headers, body schema), never a 5xx; invalid requests must
# be refused; requests without a key must get 401. Exits non-zero on any failure.
#
#   API_FUZZ_EXAMPLES  test cases per operation and phase (default 25: the quick run of make test)
#   API_FUZZ_PHASES    schemathesis phases (default examples,coverage,fuzzing,stateful)
#   API_FUZZ_SEED      a seed, to repeat a run exactly (default: random, printed by schemathesis)
#   API_FUZZ_REPORT    a directory for JUnit and HAR reports of the run (default: none)
#   API_FUZZ_SPEC      the document to test against (default openapi.yaml)
#
# Anything after `--` goes to `schemathesis run` as is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# shellcheck source=infra/scripts/local-api.sh
source infra/scripts/local-api.sh

# First pass: the venv, the server binary, then this script again under with-moto.sh (which
# starts the emulator on a free port and stops it on exit).
if [[ -z "${_API_FUZZ_UNDER_MOTO:-}" ]]; then
    infra/scripts/python-env.sh
    echo "api-fuzz: building vbm-dev..." >&2
    bin="$(local_api_build)"
    export _API_FUZZ_UNDER_MOTO=1 _API_FUZZ_BIN="$bin"
    exec infra/scripts/with-moto.sh "$0" "$@"
fi

PY=.venv/bin/python
fuzz_pid=""
stop() {  # stop PID: TERM, then wait for it
    if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$fuzz_pid"
    local_api_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh table and queues from template.yaml, named for this run; the server on a free port.
local_api_start "$_API_FUZZ_BIN" "fuzz-$$-$RANDOM"
key="$LOCAL_API_KEY"
base="$LOCAL_API_BASE"

# Three users write first (through the Viber sandbox), so session messages to them reach the
# session rules (the numbers are the first of KNOWN_PHONES in infra/api-fuzz/hooks.py).
for phone in +447911123456 +380501234567 +79123456789; do
    "$PY" -c 'import json, sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_sandbox/viber/user_message",
    data=json.dumps({"service_id": 1000, "phone_number": sys.argv[2], "text": "Hi!"}).encode()), timeout=30)' "$base" "$phone"
done

examples="${API_FUZZ_EXAMPLES:-25}"
args=(
    --no-color
    --config-file infra/api-fuzz/schemathesis.toml
    run "${API_FUZZ_SPEC:-openapi.yaml}"
    --url "$base"
    --header "Authorization: Bearer $key"
    --phases "${API_FUZZ_PHASES:-examples,coverage,fuzzing,stateful}"
    --max-examples "$examples"
)
[[ -n "${API_FUZZ_SEED:-}" ]] && args+=(--seed "$API_FUZZ_SEED")
if [[ -n "${API_FUZZ_REPORT:-}" ]]; then
    args+=(--report junit,har --report-dir "$API_FUZZ_REPORT")
fi

echo "api-fuzz: schemathesis against $base ($examples examples per operation and phase)" >&2
start=$SECONDS
status=0
[[ "${1:-}" == "--" ]] && shift
.venv/bin/schemathesis "${args[@]}" "$@" &
fuzz_pid=$!
wait "$fuzz_pid" || status=$?
fuzz_pid=""
echo "api-fuzz: schemathesis exited with $status after $((SECONDS - start)) s" >&2
if [[ $status -ne 0 ]]; then
    local_api_log
fi
exit "$status"
