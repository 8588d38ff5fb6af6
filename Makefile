# Junction: `make run` serves it on SQLite, `make test` runs the suite. Both set up .venv first,
# so on a fresh machine with Python 3.11+ they are the only commands needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint format bench clean setup

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Junction needs Python 3.11+; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

# Reinstalled when a pyproject changes (new dependency, new entry point).
$(STAMP): $(BIN)/python pyproject.toml examples/hello_plugin/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]' -e examples/hello_plugin
	touch $(STAMP)

setup: $(STAMP)

# Migrates the SQLite database in instance/ and serves the API and /api/docs with gunicorn.
run: $(STAMP)
	$(BIN)/junction db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) wsgi:app

# No services needed; set JUNCTION_TEST_DATABASE_URL / JUNCTION_TEST_REDIS_URL to use real ones.
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/http_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
