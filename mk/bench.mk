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

# The LiteLLM proxy, SAM CLI (the cold start benchmark runs sam build), dynalite (the ledger benchmark) and the
# classify model (its benchmark, and the package sizes).
BENCH_DEPS += bench-litellm $(SAM) node_modules/.installed models
