# Two commands for a fresh machine: `make demo` (main jobs on the embedded defaults) and
# `make test` (lint + the test suite). Both create .venv and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The suite in 2 worker processes (pytest-xdist): most tests use one core (a Dagster subprocess,
# a loopback server), so two at a time fill a 2-core machine. Whole modules go to one worker, in
# order (`loadfile`): tests of a module may build on each other (the CLI tier backfills) or share
# an expensive module fixture; the demo's tests are in one module so the demo runs once.
# `make test PYTEST_WORKERS=-n0` runs them in this process.
PYTEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: install demo test test-scale-out bench bench-full ui conventions

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/python -m dag.demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py
	$(BIN)/python scripts/typecheck.py -p dag
	$(BIN)/pytest $(PYTEST_WORKERS)

# The deployment tests (Celery workers on Redis, queued runs, an instance on PostgreSQL).
test-scale-out: install
	$(BIN)/pytest -m scale_out

# Benchmark gates: quick mode (CI) and the full mode that refreshes docs/benchmarks.md.
bench: install
	BENCH_MODE=quick $(BIN)/pytest benchmarks --benchmark-only

bench-full: install  # the report is written even when a gate fails; the exit status is kept
	BENCH_MODE=full $(BIN)/pytest benchmarks --benchmark-only; status=$$?; \
	$(BIN)/python benchmarks/report.py --mode full && exit $$status

conventions: install
	$(BIN)/python -m dag.conventions

ui: install
	DAGSTER_HOME=$$($(BIN)/python -m dag.instance | cut -d= -f2) $(BIN)/dagster dev
