# The local API for scripts that test against it (api-fuzz.sh, clients.sh): sourced, not run.
#
#   local_api_build            builds vbm-dev; prints its path (run before with-moto.sh)
#   local_api_start BIN NAME   under with-moto.sh: a fresh table and queues named NAME, BIN on a
#                              free port; sets LOCAL_API_BASE, LOCAL_API_KEY (the demo business's
#                              key, from the banner), LOCAL_API_PID and LOCAL_API_LOG
#   local_api_log              the last lines of its output (metric lines left out), to stderr
#   local_api_stop             stops it (for an EXIT trap)
#
# Needs the venv (.venv) and the repository root as the working directory.

local_api_build() {
    local built
    # The same package and target selection as `cargo test --workspace`, so the dependencies
    # resolve to the same features and the test build's artefacts are reused: `-p vbm-dev` alone
    # builds a second copy of the AWS SDK (about 1 GB more in target/, and minutes).
    if ! built="$(cargo build --quiet --workspace --tests --bin vbm-dev --message-format=json-render-diagnostics)"; then
        echo "local-api: building vbm-dev failed" >&2
        return 1
    fi
    printf '%s\n' "$built" | .venv/bin/python -c '
import json, sys
exe = [m["executable"] for m in map(json.loads, sys.stdin)
       if m.get("reason") == "compiler-artifact" and m.get("executable")
       and m["target"]["name"] == "vbm-dev"]
print(exe[-1])'
}

local_api_start() {
    local bin="$1" name="$2" py=.venv/bin/python resources
    resources="$("$py" infra/local/resources.py --endpoint "$AWS_ENDPOINT_URL" --table "$name" --prefix "$name-")"
    field() { "$py" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$resources" "$1"; }
    export VBM_TABLE="$name"
    OUTBOUND_QUEUE_URL="$(field outbound_queue_url)"
    EVENTS_QUEUE_URL="$(field events_queue_url)"
    TIMERS_GROUP="$(field timers_group)"
    CAMPAIGN_QUEUE_URL="$(field campaign_queue_url)" # campaigns
    SESSION_TIMERS_QUEUE_URL="$(field session_timers_queue_url)"
    FAILOVER_QUEUE_URL="$(field failover_queue_url)" # SMS failover
    UPLOADS_BUCKET="$(field uploads_bucket)" # campaigns' uploaded lists
    export OUTBOUND_QUEUE_URL EVENTS_QUEUE_URL TIMERS_GROUP CAMPAIGN_QUEUE_URL SESSION_TIMERS_QUEUE_URL FAILOVER_QUEUE_URL UPLOADS_BUCKET
    export VBM_PORT="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    export RUST_LOG="${RUST_LOG:-warn}"

    LOCAL_API_LOG="$(mktemp "${TMPDIR:-/tmp}/vbm-local-api.XXXXXX")"
    "$bin" >"$LOCAL_API_LOG" 2>&1 &
    LOCAL_API_PID=$!

    # The banner (printed once the stack answers /_dev/health) carries the demo business's key.
    LOCAL_API_KEY=""
    for _ in $(seq 1 600); do  # 600 x 0.1 s = 60 s
        LOCAL_API_KEY="$(sed -n 's/^API key: *\(vbm_[0-9a-f]*\)$/\1/p' "$LOCAL_API_LOG")"
        [[ -n "$LOCAL_API_KEY" ]] && break
        if ! kill -0 "$LOCAL_API_PID" 2>/dev/null; then
            echo "local-api: vbm-dev exited before it was ready" >&2
            local_api_log
            return 1
        fi
        sleep 0.1
    done
    if [[ -z "$LOCAL_API_KEY" ]]; then
        echo "local-api: vbm-dev printed no API key within 60 s" >&2
        local_api_log
        return 1
    fi
    LOCAL_API_BASE="http://127.0.0.1:$VBM_PORT"
}

local_api_log() {
    echo "---- vbm-dev log (last 80 lines, metrics left out) ----" >&2
    grep -v '^{"_aws"' "$LOCAL_API_LOG" | tail -n 80 >&2 || true
    echo "---- end of vbm-dev log ----" >&2
}

local_api_stop() {
    if [[ -n "${LOCAL_API_PID:-}" ]] && kill -0 "$LOCAL_API_PID" 2>/dev/null; then
        kill "$LOCAL_API_PID" 2>/dev/null || true
        wait "$LOCAL_API_PID" 2>/dev/null || true
    fi
    LOCAL_API_PID=""
    [[ -n "${LOCAL_API_LOG:-}" ]] && rm -f "$LOCAL_API_LOG"
    return 0
}
