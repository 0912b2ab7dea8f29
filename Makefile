# vbm-serverless: developer entry points. `make test` is what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
WITH_MOTO := infra/scripts/with-moto.sh

.PHONY: all test python-env test-rust test-infra lint-template bench

all: test

## Everything CI checks, in this order, stopping at the first failure.
test:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	infra/scripts/python-env.sh
	$(WITH_MOTO) cargo test --workspace
	$(WITH_MOTO) $(VENV)/bin/pytest -q infra/tests

## The Python venv (.venv): moto, boto3, cfn-lint, samtranslator, pytest.
python-env:
	infra/scripts/python-env.sh

## Rust tests only, against a fresh serialized moto server (AWS_ENDPOINT_URL).
test-rust: python-env
	$(WITH_MOTO) cargo test --workspace

## Infra tests only: moto serialization, local resources, offline template validation.
test-infra: python-env
	$(WITH_MOTO) $(VENV)/bin/pytest -q infra/tests

## cfn-lint only.
lint-template: python-env
	$(VENV)/bin/cfn-lint template.yaml

bench:
	cargo bench -p session-rules
