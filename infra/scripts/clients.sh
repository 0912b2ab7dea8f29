#!/usr/bin/env bash
# The clients a business generates from openapi.yaml, kept working (docs/api.md, "Use a
# generated client"). Into a temporary directory, with the pinned generators:
#
#   Python: openapi-python-client (infra/requirements.txt, in .venv)
#       openapi-python-client generate --path openapi.yaml --meta none --output-path vbm_client
#   TypeScript: openapi-typescript + openapi-fetch + typescript (infra/clients/package-lock.json,
#   `npm ci` into infra/clients/node_modules)
#       npx openapi-typescript openapi.yaml --output vbm-api.d.ts
#       npx tsc --strict --noEmit --module preserve --target es2022 quickstart.ts
#
# Fails on any generator warning; type-checks infra/clients/examples/quickstart.ts and typing.ts
# (what the types must refuse); then, against the local stack (vbm-dev on a free port, a fresh
# table on the emulator, as api-fuzz.sh starts it), runs examples/walk.py, which runs
# quickstart.py and checks every answer is parsed into its documented model. The two quickstart
# files are quoted in docs/api.md: this script checks they are quoted as they are.
#
# Without Node.js the TypeScript part is skipped with a notice, except under CI=true.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=infra/scripts/local-api.sh
source infra/scripts/local-api.sh

PY=.venv/bin/python
EXAMPLES=infra/clients/examples

# Second pass (under with-moto.sh): the stack, then the walk.
if [[ -n "${_CLIENTS_UNDER_MOTO:-}" ]]; then
    work="$_CLIENTS_WORK"
    cleanup() {
        local_api_stop
        rm -rf "$work"
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    start=$SECONDS
    local_api_start "$_CLIENTS_BIN" "clients-$$-$RANDOM"
    # A user writes first (through the Viber sandbox), so the business has events to list.
    "$PY" -c 'import json, sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_sandbox/viber/user_message",
    data=json.dumps({"service_id": 1000, "phone_number": sys.argv[2], "text": "Hi!"}).encode()), timeout=30)' \
        "$LOCAL_API_BASE" +380501234567
    cp "$EXAMPLES/quickstart.py" "$EXAMPLES/walk.py" "$work/"
    if ! (cd "$work" && API="$LOCAL_API_BASE" KEY="$LOCAL_API_KEY" PYTHONPATH="$work" \
        "$ROOT/$PY" walk.py); then
        echo "clients: the Python walk failed" >&2
        local_api_log
        exit 1
    fi
    echo "clients: the Python walk passed against the local stack in $((SECONDS - start)) s" >&2
    exit 0
fi

only_lines() {  # FILE PATTERN...: every non-blank line of FILE matches one of the patterns
    local file="$1" args=() pattern
    shift
    for pattern in "$@"; do args+=(-e "$pattern"); done
    ! grep -v -e '^[[:space:]]*$' "${args[@]}" "$file" >/dev/null
}

start=$SECONDS
infra/scripts/python-env.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/vbm-clients.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The examples in docs/api.md are these files, as they are.
"$PY" - docs/api.md "$EXAMPLES/quickstart.py" "$EXAMPLES/quickstart.ts" <<'EOF'
import re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
blocks = [b.strip() for b in re.findall(r"^```[a-z]*\n(.*?)^```$", doc, re.S | re.M)]
for path in sys.argv[2:]:
    if open(path, encoding="utf-8").read().strip() not in blocks:
        sys.exit(f"clients: docs/api.md does not quote {path} as it is")
EOF

# Python: the generator's own warnings go to its output; --fail-on-warning also sets the exit
# status. Its post-generation hooks run ruff, found on PATH.
echo "clients: generating the Python client" >&2
if ! PATH="$ROOT/.venv/bin:$PATH" .venv/bin/openapi-python-client generate --path openapi.yaml \
    --meta none --output-path "$work/vbm_client" --fail-on-warning >"$work/python.log" 2>&1 \
    || ! only_lines "$work/python.log" "^Generating $work/vbm_client\$"; then
    cat "$work/python.log" >&2
    echo "clients: openapi-python-client warned or failed (above)" >&2
    exit 1
fi

# TypeScript: openapi-typescript prints its banner and the file it wrote, anything else is a
# warning (its exit status stays 0 on warnings).
if command -v node >/dev/null && command -v npm >/dev/null; then
    lock="$(sha256sum infra/clients/package-lock.json | cut -d' ' -f1)"
    stamp=infra/clients/node_modules/.package-lock.sha256
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$lock" ]]; then
        echo "clients: npm ci (infra/clients)" >&2
        (cd infra/clients && npm ci --no-audit --no-fund --loglevel=error)
        echo "$lock" >"$stamp"
    fi
    echo "clients: generating the TypeScript types" >&2
    mkdir -p "$work/ts"
    if ! (cd infra/clients && npx --no-install openapi-typescript "$ROOT/openapi.yaml" \
        --output "$work/ts/vbm-api.d.ts") >"$work/ts.log" 2>&1 \
        || ! only_lines "$work/ts.log" '^✨ openapi-typescript ' '^🚀 .* → .*/vbm-api\.d\.ts '; then
        cat "$work/ts.log" >&2
        echo "clients: openapi-typescript warned or failed (above)" >&2
        exit 1
    fi
    cp "$EXAMPLES/quickstart.ts" "$EXAMPLES/typing.ts" "$work/ts/"
    ln -s "$ROOT/infra/clients/node_modules" "$work/ts/node_modules"
    echo "clients: tsc --strict on the TypeScript examples" >&2
    (cd "$work/ts" && npx --no-install tsc --strict --noEmit --module preserve --target es2022 \
        quickstart.ts typing.ts)
elif [[ "${CI:-}" == "true" ]]; then
    echo "clients: Node.js (node, npm) is missing, and CI must check the TypeScript client" >&2
    exit 1
else
    echo "clients: Node.js (node, npm) not found: the TypeScript client is NOT checked here" >&2
fi
echo "clients: both clients generated without a warning and type-checked in $((SECONDS - start)) s" >&2

echo "clients: building vbm-dev..." >&2
start=$SECONDS
bin="$(local_api_build)"
echo "clients: vbm-dev built in $((SECONDS - start)) s" >&2
export _CLIENTS_UNDER_MOTO=1 _CLIENTS_BIN="$bin" _CLIENTS_WORK="$work"
trap - EXIT
exec infra/scripts/with-moto.sh "$0" "$@"
