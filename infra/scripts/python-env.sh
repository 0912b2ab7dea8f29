#!/usr/bin/env bash
# Create (if missing) the project's Python venvs and install their pinned requirements:
#   <repo>/.venv          infra/requirements.txt           moto, boto3, cfn-lint, pytest, ...
#   <repo>/.venv-checkov  infra/requirements-checkov.txt   checkov (its own venv: it pins an
#                                                          older boto3 than moto needs)
# Idempotent: a stamp file in each venv holds the hash of its requirements file, so a second
# run with nothing changed returns at once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"

# ensure_venv VENV REQUIREMENTS
ensure_venv() {
    local venv="$1" req="$2"
    local stamp="$venv/.requirements.sha256" want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi

    # Several scripts (with-moto.sh, dev.sh, api-fuzz.sh) call this, sometimes at the same
    # time: one pip at a time into a venv, and the others see its stamp once it is done.
    mkdir -p "$venv"
    (
        flock 8
        if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
            exit 0
        fi
        if [[ ! -x "$venv/bin/python" ]]; then
            echo "python-env: creating $venv" >&2
            "$PYTHON" -m venv "$venv"
        fi
        echo "python-env: installing ${req#"$ROOT"/} into ${venv#"$ROOT"/}" >&2
        start=$SECONDS
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
        echo "$want" > "$stamp"
        echo "python-env: ${venv#"$ROOT"/} ready in $((SECONDS - start)) s" >&2
    ) 8>"$venv/.install.lock"
}

ensure_venv "$ROOT/.venv" "$ROOT/infra/requirements.txt"
ensure_venv "$ROOT/.venv-checkov" "$ROOT/infra/requirements-checkov.txt"
