# One entry point for people and CI. `make dev` starts the local stack, `make test` runs
# everything; both install what they need first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
TASKS_VENV := .venv-tasks
PY := $(VENV)/bin/python
# gcloud-tasks-emulator pins protobuf<5, which the service's own Google clients cannot use.
TASKS_EMULATOR_PIN := gcloud-tasks-emulator==0.6.2
WEB := clients/web
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: venv demo dev dev-detach down status test lint typecheck unit integration e2e openapi bench capacity soak clean \
	web web-deps web-check chromium screenshots

venv: $(VENV)/.installed $(TASKS_VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(TASKS_VENV)/.installed:
	test -x $(TASKS_VENV)/bin/python || $(PYTHON) -m venv $(TASKS_VENV)
	$(TASKS_VENV)/bin/pip install --quiet '$(TASKS_EMULATOR_PIN)'
	touch $@

## The main job: stack up, submit "NATO alphabet", live progress, saved questions, stack down
demo: venv
	$(PY) -m dev.demo

## The local stack (Firestore + Cloud Tasks emulators, api / process_job / cleanup_jobs)
dev: venv
	$(PY) -m dev.stack up

dev-detach: venv
	$(PY) -m dev.stack up --detach

down:
	$(PY) -m dev.stack down

status:
	$(PY) -m dev.stack status

## Everything CI runs
test: venv web-deps chromium lint typecheck web-check
	$(PY) -m pytest -q --durations=15

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -recursive infra"; \
		TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra; \
	else \
		echo "terraform not on PATH: skipping terraform fmt -check"; \
	fi

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest -q tests/unit tests/contract -m "not integration"

integration: venv
	$(PY) -m pytest -q tests/integration

e2e: venv web-deps chromium
	$(PY) -m pytest -q tests/e2e

openapi: venv
	$(PY) -m qgen.http.openapi > docs/openapi.json

bench: venv
	$(PY) -m benchmarks.create_jobs
	$(PY) -m benchmarks.worker_stream
	$(PY) -m benchmarks.cleanup_retention
	$(PY) -m benchmarks.cleanup_recovery
	$(PY) -m benchmarks.notification_latency

## One worker instance's capacity: K concurrent 40-question jobs in one worker process
capacity: venv
	$(PY) -m benchmarks.capacity

## The whole stack for ~10 minutes under load and chaos, then every invariant checked
soak: venv
	$(PY) -m benchmarks.soak

## Clients: the web client's dev server against the local stack (starts one unless `make dev` runs)
web: venv web-deps
	$(PY) -m clients.web.serve

web-deps: $(WEB)/node_modules/.installed

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web-check: web-deps
	cd $(WEB) && npm run --silent check

# The browser tests drive Debian's chromium; Playwright downloads no browser.
chromium: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

## Refresh the screenshots in docs/img/ from the browser tests
screenshots: venv web-deps chromium
	QGEN_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/e2e/test_web_client.py

clean:
	rm -rf $(VENV) $(TASKS_VENV) .dev .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules
