# The two front-door commands: `make demo` and `make test`. Both set up .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@bash examples/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/runner schema

test: lint
	$(BIN)/runner schema --check
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/validate_latency.py
	$(BIN)/python bench/backtest_throughput.py
	$(BIN)/python bench/plain_loop.py
	$(BIN)/python bench/sweep_throughput.py
	$(BIN)/python bench/indicator_cost.py
	$(BIN)/python bench/llm_cycle.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
