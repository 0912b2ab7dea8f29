#!/usr/bin/env bash
# Run the AWS SAM CLI from the project's own venv, with cargo-lambda on PATH for
# `BuildMethod: rust-cargolambda`:
#
#   infra/scripts/sam.sh build                 # all five functions, arm64, release
#   infra/scripts/sam.sh deploy --guided       # first deployment (see docs/deploy.md)
#   infra/scripts/sam.sh validate --lint
#
# SAM CLI (pinned in infra/requirements-sam.txt) goes into .venv-sam, never into .venv: it
# pulls in a newer cfn-lint than the one the template tests pin. cargo-lambda and zig come
# from infra/scripts/package.sh --tools-only (.venv-package). SAM CLI older than 1.156 built
# rust-cargolambda only as a beta feature: with such a `sam` (SAM=/path/to/sam), the beta
# switch is turned on here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-sam"
REQ="$ROOT/infra/requirements-sam.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

"$ROOT/infra/scripts/package.sh" --tools-only
export PATH="$ROOT/.venv-package/bin:$PATH"

if [[ -n "${SAM:-}" ]]; then
    sam="$SAM"
else
    want="$(sha256sum "$REQ" | cut -d' ' -f1)"
    if [[ ! -x "$VENV/bin/sam" || ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
        echo "sam: installing AWS SAM CLI (infra/requirements-sam.txt) into $VENV" >&2
        started=$SECONDS
        [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
        echo "$want" > "$STAMP"
        echo "sam: SAM CLI ready in $((SECONDS - started)) s" >&2
    fi
    sam="$VENV/bin/sam"
fi

# "SAM CLI, version 1.170.0" -> 1.170.0
version="$("$sam" --version | sed -n 's/.*version \([0-9][0-9.]*\).*/\1/p')"
if [[ -n "$version" ]] && [[ "$(printf '%s\n1.156.0\n' "$version" | sort -V | sed -n 1p)" != "1.156.0" ]]; then
    echo "sam: SAM CLI $version < 1.156: enabling the rust-cargolambda beta feature" >&2
    export SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
fi

cd "$ROOT"
exec "$sam" "$@"
