# checkov, the template's security review, in its own venv (like SAM CLI in mk/sam.mk); `make test` installs it
# and tests/integration/test_template_lint_and_build.py runs it on template.yaml: every finding must be in
# checkov-allowlist.yaml, with the reason it is accepted.
#
#   make checkov   run only that check

CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30

$(CHECKOV): | python312
	@echo ">> installing checkov==$(CHECKOV_VERSION) into $(CHECKOV_VENV)"
	rm -rf $(CHECKOV_VENV)
	$(PY312) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $(CHECKOV)

TEST_DEPS += $(CHECKOV)

.PHONY: checkov

checkov: venv $(CHECKOV)
	$(PY) -m pytest tests/integration/test_template_lint_and_build.py -q -k checkov
