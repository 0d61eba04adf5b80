# Two entry points: `make run` (the main job) and `make test` (everything the tests need, then the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench clean chromium pg-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# The main job: one day of GBM ticks aggregated into 1-minute candles, with the preview.
run: $(VENV)/.installed
	$(BIN)/seriesfactory series --sources 'gbm(0.05,0.5,50000)' \
	    --from 2025-01-01 --to 2025-01-02 --agg-mode time --agg-step 60000

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev chromium pg-server
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_aggregate.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_ingest.py --rows 5000000
	$(BIN)/python benchmarks/bench_bars.py
	$(BIN)/python benchmarks/bench_book.py
	$(BIN)/python benchmarks/bench_book_live.py
	$(BIN)/python benchmarks/bench_record.py
	$(BIN)/python benchmarks/bench_store.py

# The store tests start their own PostgreSQL cluster from the server binaries: install them
# when missing (Debian, as root); otherwise those tests fail saying how to install them.
pg-server:
	@if ! command -v pg_config >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "installing the PostgreSQL server (apt-get install -y postgresql)"; \
	        apt-get install -y postgresql >/dev/null || { apt-get update >/dev/null && apt-get install -y postgresql >/dev/null; }; \
	    else \
	        echo "warning: PostgreSQL server binaries missing; the store tests will fail: run 'apt-get install -y postgresql'"; \
	    fi; \
	fi

clean:
	rm -rf $(VENV) cache output .pytest_cache .mypy_cache .ruff_cache

# The report tests drive a real headless Chromium (Debian's package); install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
