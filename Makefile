# creditwatch: every target installs what it needs first (venvs pinned by requirements/*.lock).
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/$(SAM_VENV)/bin:$(PATH)

.PHONY: setup demo test check test-fast lint typecheck bench build validate train clean

$(VENV)/.installed: requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.lock
	touch $@

# setup.py maps every package found by the layout: a new function or layer package reinstalls.
PACKAGES := $(wildcard src/creditwatch/__init__.py layers/*/python/creditwatch_*/__init__.py functions/*/creditwatch_*/__init__.py)
$(VENV)/.editable: $(VENV)/.installed pyproject.toml setup.py $(PACKAGES)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(SAM_VENV)/.installed: requirements/sam.lock
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements/sam.lock
	touch $@

# checkov pins boto3 and packaging versions the dev venv cannot take: a venv of its own.
$(CHECKOV_VENV)/.installed: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements/checkov.lock
	touch $@

setup: $(VENV)/.editable $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed ## Install the dev, SAM CLI and checkov environments

demo: setup ## The main job on the local stack: traffic, drift report, alerts, summary
	$(BIN)/creditwatch demo

# One worker per core: a third on 2 cores gained 15 s of 11 min (e2e-first order, 2026-12-06) for 12% more CPU,
# and leaves the deadline-bound fault tests less CPU; the order below gained 77 s. A test file stays on one
# worker (its module-scoped stacks and servers are made once). Files go out in collection order, which
# tests/conftest.py makes alternate waiting (e2e, integration) and busy (unit) files, not by their count of
# tests, xdist's default, which started the 2-minute demo test at minute 9.5 (docs/develop.md, "Tests").
PYTEST := $(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder

# mypy (one process, ~25 s from a cold cache) runs beside the suite, which leaves about a quarter of the two cores
# idle (tests waiting on servers, deadlines and timeouts); its report is printed after the tests'.
test: setup ## Lint, type-check and run every test (unit, integration, e2e): <= 12 min on 2 cores
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/actionlint .github/workflows/*.yml
	@types=$$(mktemp); $(BIN)/mypy > $$types 2>&1 & pid=$$!; \
	$(PYTEST) --durations=20; tests=$$?; \
	wait $$pid; typed=$$?; echo "mypy:"; cat $$types; rm -f $$types; \
	[ $$tests -eq 0 ] && [ $$typed -eq 0 ]

check: setup ## The edit loop: lint, type-check and the unit tests that need no server (<= 2 min on 2 cores)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(PYTEST) tests/unit -m "not server"

test-fast: setup ## Unit and integration tests only
	$(PYTEST) tests/unit tests/integration

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

bench: setup ## Speed and memory benchmarks (prints figures and ratios)
	$(BIN)/python bench/predict_bench.py
	$(BIN)/python bench/drift_bench.py
	$(BIN)/python bench/window_bench.py
	$(BIN)/python bench/quality_bench.py
	$(BIN)/python bench/idempotency_bench.py

validate: setup ## sam validate --lint, cfn-lint's serverless rules and checkov on template.yaml
	sam validate --lint --region eu-west-1
	$(BIN)/cfn-lint -a cfn_lint_serverless.rules -- template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

# What `sam local invoke|start-api` read (samconfig.toml): every function's environment pointed at the local
# moto server, generated from template.yaml (never committed, so never stale). A custom endpoint:
# `creditwatch local env-vars --endpoint URL`.
env/local.json: template.yaml $(VENV)/.editable
	$(BIN)/creditwatch local env-vars -o $@

# `sam build <Fn>` replaces its build folder: one folder per function, where `creditwatch invoke --build` looks.
build: setup env/local.json ## sam build of the zip functions into .aws-sam/functions/<Fn>, and env/local.json (the drift image needs Docker)
	sam build PredictFunction --region eu-west-1 --build-dir .aws-sam/functions/PredictFunction
	sam build AlertsFunction --region eu-west-1 --build-dir .aws-sam/functions/AlertsFunction
	sam build ReportsFunction --region eu-west-1 --build-dir .aws-sam/functions/ReportsFunction

train: setup ## Retrain the model and regenerate the layer artifacts
	$(BIN)/creditwatch train

clean:
	-$(BIN)/creditwatch local down
	rm -rf .aws-sam .creditwatch reports .pytest_cache .mypy_cache .ruff_cache env/local.json
