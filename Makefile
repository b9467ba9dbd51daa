# Shequ — the two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
STAMP  := $(VENV)/.installed

.PHONY: run run-scaled test test-quick test-pg test-all reliability lint typecheck install migrate demo bench translations clean help

help:
	@echo "make run    - install, migrate, load demo data and serve on http://$(HOST):$(PORT)/"
	@echo "make test   - the whole suite (SQLite; set SHEQU_TEST_DATABASE_URL for PostgreSQL)"
	@echo "make test-quick - the inner loop: everything but the browser tests"
	@echo "make lint   - ruff over the tree and mypy over core's public modules (CI runs it)"
	@echo "make bench  - benchmarks against their floors (not part of make test)"
	@echo "make reliability - multi-process failure scenarios (PostgreSQL + Redis on 127.0.0.1)"
	@echo "make run-scaled  - PostgreSQL, Redis, N gunicorn workers, M event workers (Ctrl+C stops)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e docs/example_plugin
	$(MAKE) --no-print-directory translations
	@touch $(STAMP)

install: $(STAMP)

translations:
	@for d in core/translations plugins/*/translations docs/example_plugin/*/translations; do \
	  if [ -d $$d ]; then $(BIN)/pybabel -q compile -f -d $$d -D messages || exit 1; fi; done

migrate: install
	$(BIN)/shequ db upgrade

# The demo, then the daily proactive-offer job once (a bulk load publishes no per-person
# events, so without it the outreach list would stay empty until the next day).
demo: migrate
	$(BIN)/shequ demo
	$(BIN)/shequ gov_services proactive

run: demo translations
	@$(BIN)/python -c "from core.demo import DEMO_ACCOUNTS as a; print('\nDemo accounts (username / password):'); [print(f'  {r:<18} {u:<12} {p}') for r,(u,p) in a.items()]"
	@echo "\nShequ: open http://$(HOST):$(PORT)/\n"
	$(BIN)/shequ run --host $(HOST) --port $(PORT)

# The browser tests need Debian's chromium and fonts-wqy-microhei: installed here when this
# user may (root or passwordless sudo), otherwise make stops at once with the command to run.
test: install translations
	@sh scripts/ensure_browser.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The inner loop: no browser (e2e and page-fit tests need Chromium), no reliability scenarios.
test-quick: install translations
	$(BIN)/python -m pytest -q -m "not e2e" --ignore=tests/e2e $(PYTEST_ARGS)

test-pg: install
	@sh scripts/ensure_browser.sh
	SHEQU_TEST_DATABASE_URL=$${SHEQU_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	  $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# Real processes against PostgreSQL and Redis on 127.0.0.1: writes reliability/results.json
# and regenerates docs/reliability.md. Not part of `make test` (minutes, needs services).
reliability: install translations
	SHEQU_RELIABILITY=1 SHEQU_RELIABILITY_REPORT=1 $(BIN)/python -m pytest -q -p no:randomly \
	  tests/reliability $(PYTEST_ARGS)

run-scaled: install translations
	$(BIN)/python scripts/run_scaled.py start

lint: install
	$(BIN)/ruff check core plugins tests bench docs scripts
	$(BIN)/python -m mypy

typecheck: install
	$(BIN)/python -m mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis .schemathesis
