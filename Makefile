# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config.example.toml

.PHONY: run test lint bench clean bytecode vectors

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# An editable install leaves our modules uncompiled; where PYTHONDONTWRITEBYTECODE is set, every
# start would compile them again (~80 ms). Stale files are ignored by Python, so this is safe.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q triage_desk

# Prepare the embedded SQLite database and the bundled model, then serve on loopback.
run: $(STAMP) bytecode
	$(BIN)/triage --config $(CONFIG) db upgrade
	$(BIN)/triage --config $(CONFIG) train --if-missing
	$(BIN)/triage --config $(CONFIG) run

# The suite is spread over one worker more than there are cores (pytest-xdist): many tests
# wait on a real server or a subprocess, and a core would idle meanwhile (bench/README,
# "The test suite's wall time"). PYTEST_ARGS="-n 0" runs it in one process.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

test: $(STAMP) bytecode
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# After changing classifier/data or how messages are split into sentences: the sentence vectors
# that ship with the examples (a first training on a new machine then embeds nothing).
vectors: $(STAMP)
	$(BIN)/python -m triage_desk.classifier.bundled_vectors

clean:
	rm -rf $(VENV) var/*.sqlite* var/outbox var/models
