#!/usr/bin/env bash
# Run a command against a fresh, serialized moto server (DynamoDB, SQS, ...).
#
#   infra/scripts/with-moto.sh CMD [ARGS...]
#
# Ensures the venv, starts infra/moto/serial_moto.py on a free 127.0.0.1 port,
# waits until it answers, exports AWS_ENDPOINT_URL and dummy credentials, runs
# CMD and exits with its status. The server is always stopped on exit (also on
# Ctrl-C); its log is shown if it fails to start or CMD fails.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$ROOT/infra/scripts/python-env.sh"
PY="$ROOT/.venv/bin/python"

port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
log="$(mktemp "${TMPDIR:-/tmp}/vbm-moto.XXXXXX.log")"
moto_pid=""
cmd_pid=""

stop() {  # stop PID: TERM, then wait for it
    if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$cmd_pid"
    stop "$moto_pid"
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_log() {
    echo "---- moto server log ($log) ----" >&2
    cat "$log" >&2 || true
    echo "---- end of moto server log ----" >&2
}

# MOTO_STATS=FILE: the server writes its requests and lock time per operation there at exit.
"$PY" "$ROOT/infra/moto/serial_moto.py" --host 127.0.0.1 --port "$port" \
    ${MOTO_STATS:+--stats "$MOTO_STATS"} >"$log" 2>&1 &
moto_pid=$!

endpoint="http://127.0.0.1:$port"
ready=""
for _ in $(seq 1 300); do  # 300 x 0.1 s = 30 s
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "with-moto: the moto server exited before it was ready" >&2
        show_log
        exit 1
    fi
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)' "$endpoint" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    echo "with-moto: the moto server did not answer on $endpoint within 30 s" >&2
    show_log
    exit 1
fi

export AWS_ENDPOINT_URL="$endpoint"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN

# CMD runs as a child we wait for, so Ctrl-C / TERM reach the traps at once
# (and stop CMD and the server) instead of after CMD ends. Stdin is passed on.
status=0
"$@" <&0 &
cmd_pid=$!
wait "$cmd_pid" || status=$?
cmd_pid=""
if [[ $status -ne 0 ]] && [[ -s "$log" ]]; then
    echo "with-moto: command exited with status $status" >&2
    show_log
fi
exit "$status"
