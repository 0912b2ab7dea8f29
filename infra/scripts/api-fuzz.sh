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

# First pass: the venv, the server binary, then this script again under with-moto.sh (which
# starts the emulator on a free port and stops it on exit).
if [[ -z "${_API_FUZZ_UNDER_MOTO:-}" ]]; then
    infra/scripts/python-env.sh
    echo "api-fuzz: building vbm-dev..." >&2
    if ! built="$(cargo build --quiet -p vbm-dev --message-format=json-render-diagnostics)"; then
        echo "api-fuzz: building vbm-dev failed" >&2
        exit 1
    fi
    bin="$(printf '%s\n' "$built" | .venv/bin/python -c '
import json, sys
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m.get("executable")
       and m["target"]["name"] == "vbm-dev"]
print(exe[-1])')"
    export _API_FUZZ_UNDER_MOTO=1 _API_FUZZ_BIN="$bin"
    exec infra/scripts/with-moto.sh "$0" "$@"
fi

PY=.venv/bin/python
work="$(mktemp -d "${TMPDIR:-/tmp}/vbm-api-fuzz.XXXXXX")"
server_pid=""
fuzz_pid=""
stop() {  # stop PID: TERM, then wait for it
    if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$fuzz_pid"
    stop "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log() {  # the last lines of vbm-dev's output, without its EMF metric lines
    echo "---- vbm-dev log (last 80 lines, metrics left out) ----" >&2
    grep -v '^{"_aws"' "$work/server.log" | tail -n 80 >&2 || true
    echo "---- end of vbm-dev log ----" >&2
}

# A fresh table and queues from template.yaml, named for this run.
name="fuzz-$$-$RANDOM"
resources="$("$PY" infra/local/resources.py --endpoint "$AWS_ENDPOINT_URL" --table "$name" --prefix "$name-")"
field() { "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$resources" "$1"; }
export VBM_TABLE="$name"
OUTBOUND_QUEUE_URL="$(field outbound_queue_url)"
EVENTS_QUEUE_URL="$(field events_queue_url)"
TIMERS_GROUP="$(field timers_group)"
CAMPAIGN_QUEUE_URL="$(field campaign_queue_url)" # campaigns (issue 15)
SESSION_TIMERS_QUEUE_URL="$(field session_timers_queue_url)"
FAILOVER_QUEUE_URL="$(field failover_queue_url)" # SMS failover (issue 16)
UPLOADS_BUCKET="$(field uploads_bucket)" # campaigns' uploaded lists (issue 15)
export OUTBOUND_QUEUE_URL EVENTS_QUEUE_URL TIMERS_GROUP CAMPAIGN_QUEUE_URL SESSION_TIMERS_QUEUE_URL FAILOVER_QUEUE_URL UPLOADS_BUCKET
export VBM_PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
export RUST_LOG="${RUST_LOG:-warn}"

"$_API_FUZZ_BIN" >"$work/server.log" 2>&1 &
server_pid=$!

# The banner (printed once the stack answers /_dev/health) carries the demo business's key.
key=""
for _ in $(seq 1 600); do  # 600 x 0.1 s = 60 s
    key="$(sed -n 's/^API key: *\(vbm_[0-9a-f]*\)$/\1/p' "$work/server.log")"
    [[ -n "$key" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "api-fuzz: vbm-dev exited before it was ready" >&2
        server_log
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$key" ]]; then
    echo "api-fuzz: vbm-dev printed no API key within 60 s" >&2
    server_log
    exit 1
fi
base="http://127.0.0.1:$VBM_PORT"

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
    server_log
fi
exit "$status"
