# vbm-serverless: developer entry points. `make test` is what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
WITH_MOTO := infra/scripts/with-moto.sh
TEST_STEP := $(VENV)/bin/python infra/scripts/test_results.py step

.PHONY: all test dev python-env test-rust test-infra lint-template bench package sam-build faults fuzz fuzz-api clients

all: test

## Everything CI checks, in this order, stopping at the first failure. Without incremental
## compilation: its caches doubled target/ (2.5 GB on top of 4 GB) for a full run that rebuilds
## every workspace crate anyway. A test binary or step that passed with the same inputs is not
## run again (infra/scripts/test_results.py; VBM_TEST_REUSE=0 runs everything).
test: export CARGO_INCREMENTAL = 0
test:
	infra/scripts/toolchain.sh
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	infra/scripts/python-env.sh
	infra/scripts/test-rust.sh
	$(TEST_STEP) infra-tests -- $(WITH_MOTO) $(VENV)/bin/pytest -q infra/tests
	$(TEST_STEP) clients -- infra/scripts/clients.sh
	$(TEST_STEP) api-fuzz -- infra/scripts/api-fuzz.sh

## The whole system on 127.0.0.1 (MOTO_PORT, default 5000; VBM_PORT, default 3000). Foreground.
dev:
	infra/scripts/toolchain.sh
	infra/scripts/dev.sh

## The clients generated from openapi.yaml (Python, TypeScript): no generator warning, the
## TypeScript example type-checks, the Python walk passes against the local stack.
clients:
	infra/scripts/clients.sh

## The Python venvs: .venv (moto, boto3, cfn-lint, samtranslator, pytest) and .venv-checkov (checkov).
python-env:
	infra/scripts/python-env.sh

## Rust tests only: the end-to-end binary and the rest at once, each lane against its own fresh
## serialized moto server (infra/scripts/test-rust.sh).
test-rust: python-env
	infra/scripts/test-rust.sh

## Infra tests only: moto serialization, local resources, offline template validation.
test-infra: python-env
	$(WITH_MOTO) $(VENV)/bin/pytest -q infra/tests

## cfn-lint only: the CloudFormation rules, then AWS's Serverless Rules (cfn-lint-serverless).
## (`make test` runs both through infra/tests/test_template.py.)
lint-template: python-env
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules

## Release builds, criterion, init times, warm overhead, calls per operation, size, memory, load:
## prints the figures and writes BENCHMARKS.md (infra/scripts/bench.sh). Tens of minutes.
bench:
	infra/scripts/bench.sh

## The soak: the local server (release, its own process) at a steady 2 requests/s of the
## conversational mix for SOAK_SECONDS (default 600); prints memory and error figures and fails
## on any error or rule violation, or if memory grows after the warm-up (infra/bench bench-soak).
SOAK_SECONDS ?= 600
.PHONY: soak
soak: python-env
	cargo build --release --quiet -p vbm-dev -p vbm-bench
	$(WITH_MOTO) target/release/bench-soak --seconds $(SOAK_SECONDS)

## Fault injection, the long run: repeated emulator outages, Viber 503s/late/garbage answers and
## business-endpoint failures under a burst of sends; prints the figures, fails on a violation.
## (The quick run is part of `make test`: tests/tests/e2e/faults.rs.)
faults: python-env
	$(WITH_MOTO) cargo run -q -p vbm-e2e --bin faults -- $(FAULTS_ARGS)

## The API fuzzing long run (fuzz-api, below), then
## libFuzzer on the request, callback, template and phone-number parsers (fuzz/): every target
## for FUZZ_SECONDS (default 60), executions per target and in total; fails on a crash or hang.
## (The quick part is in `make test`: shared/fuzz-checks replays fuzz/corpus and fuzz/regressions.)
fuzz: fuzz-api
	infra/scripts/fuzz.sh

## API fuzzing, the long run: schemathesis generates requests from openapi.yaml against the local
## server (infra/scripts/api-fuzz.sh), API_FUZZ_EXAMPLES (default 1000) per operation and phase,
## stateful chains over the document's links included; fails on any 5xx or undocumented answer.
## (The quick run, 25 per operation and phase, is the last step of `make test`.)
fuzz-api:
	API_FUZZ_EXAMPLES=$${API_FUZZ_EXAMPLES:-1000} infra/scripts/api-fuzz.sh

## Lambda packages: every function of template.yaml cross-built for arm64 (cargo-lambda from
## PyPI, into .venv-package) into target/lambda/<name>/bootstrap.zip, with sizes and build time.
package:
	infra/scripts/package.sh

## `sam build` with the project's SAM CLI (.venv-sam) and cargo-lambda (see docs/deploy.md).
sam-build:
	infra/scripts/sam.sh build
