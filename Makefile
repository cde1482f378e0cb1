# Doorstep: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export DOORSTEP_DATA_DIR ?= data

.PHONY: run test lint openapi-lint ts-client bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the package description changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/doorstep migrate
	$(BIN)/doorstep demo-data --if-empty
	$(BIN)/doorstep serve --print-logins

# worksteal: an idle worker takes tests queued for the other (conftest's LONG_FIRST
# starts the longest ones first), so the run does not end on one busy worker.
test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n auto --dist worksteal --durations=15 $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check server sync evidence client_sdk fixtures tests bench tools
	$(BIN)/ruff format --check server sync evidence client_sdk fixtures tests bench tools
	$(BIN)/mypy server sync evidence client_sdk fixtures

# Redocly's recommended lint and openapi-typescript on the generated OpenAPI document
# (npm tools from tools/openapi-lint's lockfile, installed into a temporary folder)
openapi-lint: $(VENV)/.installed-dev
	tools/openapi-lint/run.sh

# The TypeScript reference client (client_sdk/typescript): npm ci from its lockfile, check
# its generated types are current, then node --test against a real server it starts.
ts-client: $(VENV)/.installed-dev
	cd client_sdk/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check-types && npm test

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

# BENCH_ARGS: e.g. "--parts sync,growth --big" (python -m bench --help)
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .mypy_cache .hypothesis
