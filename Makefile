# doseline: the two commands of the README, and a few more for developers.
#   make demo   creates .venv, installs doseline, and runs the main job on an embedded SQLite
#               registry with the bundled data (output in demo-output/)
#   make test   creates .venv with the test extras and runs ruff, mypy and the whole test suite
#   make bench  runs the benchmarks in benchmarks/ (each prints its ratio to a baseline run
#               in the same command; several take minutes)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-output

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/doseline demo --out $(DEMO)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint typecheck unit

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/transport.py
	$(BIN)/python benchmarks/rt.py
	$(BIN)/python benchmarks/risk.py
	$(BIN)/python benchmarks/cohort.py
	$(BIN)/python benchmarks/cohort_truth.py
	$(BIN)/python benchmarks/cohort_uncertainty.py
	$(BIN)/python benchmarks/dose.py
	$(BIN)/python benchmarks/fluoro_uncertainty.py
	$(BIN)/python benchmarks/skin_vs_pyskindose.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .mypy_cache .ruff_cache
