# creditwatch: every target installs what it needs first (venvs pinned by requirements/*.lock).
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/$(SAM_VENV)/bin:$(PATH)

.PHONY: setup demo test test-fast lint typecheck bench build validate train clean

$(VENV)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(SAM_VENV)/.installed: requirements/sam.lock
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements/sam.lock
	touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed ## Install the dev and SAM CLI environments

demo: setup ## The main job on the local stack: traffic, drift report, alerts, summary
	$(BIN)/creditwatch demo

test: setup ## Lint, type-check and run every test (unit, integration, e2e)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

test-fast: setup ## Unit and integration tests only
	$(BIN)/pytest tests/unit tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

bench: setup ## Speed and memory benchmarks (prints figures and ratios)
	$(BIN)/python bench/predict_bench.py
	$(BIN)/python bench/drift_bench.py
	$(BIN)/python bench/window_bench.py

validate: setup ## sam validate --lint
	sam validate --lint --region eu-west-1

# `sam build <Fn>` replaces its build folder: one folder per function, where `creditwatch invoke --build` looks.
build: setup ## sam build of the zip functions, each into .aws-sam/functions/<Fn> (the drift image needs Docker)
	sam build PredictFunction --region eu-west-1 --build-dir .aws-sam/functions/PredictFunction
	sam build AlertsFunction --region eu-west-1 --build-dir .aws-sam/functions/AlertsFunction

train: setup ## Retrain the model and regenerate the layer artifacts
	$(BIN)/creditwatch train

clean:
	-$(BIN)/creditwatch local down
	rm -rf .aws-sam .creditwatch reports .pytest_cache .mypy_cache .ruff_cache
