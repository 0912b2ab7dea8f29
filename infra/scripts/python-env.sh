#!/usr/bin/env bash
# Create (if missing) the project's Python venv at <repo>/.venv and install
# infra/requirements.txt into it. Idempotent: a stamp file holds the hash of
# requirements.txt, so a second run with nothing changed returns at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/infra/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

# Several scripts (with-moto.sh, dev.sh, api-fuzz.sh) call this, sometimes at the same time:
# one pip at a time into the venv, and the others see its stamp once it is done.
mkdir -p "$VENV"
exec 8>"$VENV/.install.lock"
flock 8
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "python-env: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

echo "python-env: installing infra/requirements.txt" >&2
start=$SECONDS
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
echo "$want" > "$STAMP"
echo "python-env: ready in $((SECONDS - start)) s" >&2
