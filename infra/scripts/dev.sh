#!/usr/bin/env bash
# `make dev`: the whole system on 127.0.0.1, no AWS account. Foreground; Ctrl-C stops everything
# it started.
#
#   MOTO_PORT (default 5000)  the emulator (DynamoDB + SQS)
#   VBM_PORT  (default 3000)  the API, the Viber callbacks, the sandbox and /_dev endpoints
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
MOTO_PORT="${MOTO_PORT:-5000}"
VBM_PORT="${VBM_PORT:-3000}"
mkdir -p .dev

# One at a time: a second `make dev` says so instead of fighting over ports.
exec 9>.dev/lock
if ! flock -n 9; then
    echo "make dev: already running (another make dev holds .dev/lock; stop it with Ctrl-C first)" >&2
    exit 1
fi
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$MOTO_PORT" "$VBM_PORT"; do
    if port_busy "$port"; then
        echo "make dev: port $port on 127.0.0.1 is in use (set MOTO_PORT / VBM_PORT to other ports)" >&2
        exit 1
    fi
done

infra/scripts/python-env.sh
echo "make dev: building the local server (first time: a few minutes)..." >&2
cargo build --quiet -p vbm-dev

moto_pid=""
cleanup() {
    if [[ -n "$moto_pid" ]] && kill -0 "$moto_pid" 2>/dev/null; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

.venv/bin/python infra/moto/serial_moto.py --host 127.0.0.1 --port "$MOTO_PORT" >.dev/moto.log 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
for _ in $(seq 1 300); do
    if .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)' "$AWS_ENDPOINT_URL" 2>/dev/null; then
        break
    fi
    kill -0 "$moto_pid" 2>/dev/null || { echo "make dev: the emulator did not start:" >&2; cat .dev/moto.log >&2; exit 1; }
    sleep 0.1
done

# The table and queues, from template.yaml (the one definition).
resources="$(.venv/bin/python infra/local/resources.py --endpoint "$AWS_ENDPOINT_URL" --table vbm --prefix vbm-)"
field() { .venv/bin/python -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$resources" "$1"; }
export VBM_TABLE=vbm
export OUTBOUND_QUEUE_URL="$(field outbound_queue_url)"
export EVENTS_QUEUE_URL="$(field events_queue_url)"
export FAILOVER_QUEUE_URL="$(field failover_queue_url)" # SMS failover
export TIMERS_GROUP="$(field timers_group)"
export CAMPAIGN_QUEUE_URL="$(field campaign_queue_url)"
export SESSION_TIMERS_QUEUE_URL="$(field session_timers_queue_url)"
export UPLOADS_BUCKET="$(field uploads_bucket)" # campaigns' uploaded lists
# The Viber callback secret is not passed: vbm-dev puts it in the emulator's Secrets Manager.
export VBM_PORT
export RUST_LOG="${RUST_LOG:-warn}"

cargo run --quiet -p vbm-dev
