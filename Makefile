# The two commands of the README:
#   make demo   installs kestra-stream and runs a flow on the embedded engine (no external service)
#   make test   installs everything, starts the services the tests need, runs lint, types and the suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Services live outside /root so that Elasticsearch, which refuses to run as root, can reach its files.
export KESTRA_STREAM_HOME ?= /var/tmp/kestra-stream/services

.PHONY: install demo test lint typecheck unit services clean

$(STAMP): pyproject.toml plugins/core/pyproject.toml plugins/scripts/pyproject.toml plugins/kafka/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e plugins/core -e plugins/scripts -e plugins/kafka
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/kestra-stream execute deploy/flows/hello.yaml --input name=Kestra --with-logs

lint: install
	$(BIN)/ruff check kestra_stream plugins tests benchmarks

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q tests/unit

# The test broker starts empty each run: every test makes topics of its own, and thousands of
# leftover partitions would exhaust its small heap. (Only this test home is reset, never a user's.)
services: install
	$(BIN)/kestra-stream services down kafka
	rm -rf $(KESTRA_STREAM_HOME)/kafka/data
	$(BIN)/kestra-stream services up

test: lint typecheck services
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
