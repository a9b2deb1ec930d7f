# The two commands of the README:
#   make demo   installs kestra-stream and runs a flow on the embedded engine (no external service)
#   make test   installs everything, starts the services the tests need, runs lint, types and the suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Services live outside /root so that Elasticsearch, which refuses to run as root, can reach its files.
export KESTRA_STREAM_HOME ?= /var/tmp/kestra-stream/services

.PHONY: install demo test lint typecheck unit services clean ui ui-test chromium podman podman-packages

# The web UI (kestra_stream/ui): npm ci and the Vite build, redone only when its sources change.
# Playwright drives the machine's Chromium: it never downloads a browser.
UI_DIR := kestra_stream/ui
UI_STAMP := $(UI_DIR)/dist/.built
UI_SOURCES := $(shell find $(UI_DIR)/src -type f 2>/dev/null) $(UI_DIR)/index.html $(UI_DIR)/vite.config.ts $(UI_DIR)/tsconfig.json
CHROMIUM ?= /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = 1

$(STAMP): pyproject.toml plugins/core/pyproject.toml plugins/scripts/pyproject.toml plugins/kafka/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e plugins/core -e plugins/scripts -e plugins/kafka
	touch $(STAMP)

$(UI_DIR)/node_modules/.package-lock.json: $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	cd $(UI_DIR) && npm ci --no-audit --no-fund
	touch $@

$(UI_STAMP): $(UI_DIR)/node_modules/.package-lock.json $(UI_SOURCES)
	cd $(UI_DIR) && npm run build
	touch $@

ui: $(UI_STAMP)

install: $(STAMP) ui

demo: install
	$(BIN)/kestra-stream execute deploy/flows/hello.yaml --input name=Kestra --with-logs
	@echo "The web UI: $(BIN)/kestra-stream server local, then open http://localhost:8080/ui/"

lint: install
	$(BIN)/ruff check kestra_stream plugins tests benchmarks

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit tests/replay

# The test broker starts empty each run: every test makes topics of its own, and thousands of
# leftover partitions would exhaust its small heap. (Only this test home is reset, never a user's.)
services: install podman-packages
	$(BIN)/kestra-stream services down kafka
	rm -rf $(KESTRA_STREAM_HOME)/kafka/data
	$(BIN)/kestra-stream services up

# Debian's Chromium for the browser tests (as root, the way CI runs).
chromium:
	test -x $(CHROMIUM) || (apt-get update && apt-get install -y chromium)

# Debian's Podman (with runc, which runs on cgroups v1 + v2 hybrid hosts) for the container tests,
# as root, the way CI runs; `services up` serves its Docker API under the home.
podman-packages:
	command -v podman >/dev/null && command -v runc >/dev/null || (apt-get update && apt-get install -y podman runc)

# Podman's API running, and the tests' image (this machine's Python 3, no registry needed) imported
# into it once; both are kept under $(KESTRA_STREAM_HOME)/podman.
podman: install podman-packages
	$(BIN)/kestra-stream services up podman
	$(BIN)/python tests/_podman.py

# The UI's type check and component tests; its browser journeys run in pytest (tests/ui).
ui-test: ui chromium
	cd $(UI_DIR) && npx vue-tsc --noEmit -p tsconfig.json && npx vitest run

# `make test` leaves the services as it found them: those it started are stopped when it ends, pass
# or fail (a newcomer's machine keeps no servers it did not ask for); those already running stay.
# KEEP_SERVICES=1 leaves them all running, for faster reruns.
RUNNING_SERVICES = $(BIN)/kestra-stream services status --json | $(BIN)/python -c \
	'import json, sys; print(*[name for name, s in json.load(sys.stdin).items() if s["running"]])'

test: lint typecheck ui-test
	@before="$$($(RUNNING_SERVICES))"; \
	code=0; $(MAKE) --no-print-directory services && $(BIN)/python tests/_podman.py && $(BIN)/pytest -q || code=$$?; \
	started=""; for name in $$($(RUNNING_SERVICES)); do \
	  case " $$before " in *" $$name "*) ;; *) started="$$started $$name";; esac; done; \
	if [ -n "$(KEEP_SERVICES)" ] || [ -z "$$started" ]; then \
	  echo "make test: services left running under $(KESTRA_STREAM_HOME): $$($(RUNNING_SERVICES))" \
	       "(stop them with: KESTRA_STREAM_HOME=$(KESTRA_STREAM_HOME) $(BIN)/kestra-stream services down)"; \
	else \
	  echo "make test: stopping what it started under $(KESTRA_STREAM_HOME):$$started (KEEP_SERVICES=1 keeps them)"; \
	  $(BIN)/kestra-stream services down $$started; \
	fi; exit $$code

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
