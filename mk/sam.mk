# AWS SAM targets; included from the main Makefile, which defines PY312 (the
# python3.12 interpreter, the Lambda runtime's version).
#
#   make .tools/sam/bin/sam   install SAM CLI + cfn-lint into their own venv (once)
#   make validate             sam validate --lint, then cfn-lint
#   make build                sam build (arm64, no container; wheels from PyPI)
#   make deploy [ENV=prod]    sam build && sam deploy --config-env $(ENV)

SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
CFN_LINT := $(SAM_VENV)/bin/cfn-lint
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0

ENV ?= default
AWS_DEFAULT_REGION ?= us-east-1

# sam build needs a python3.12 on PATH; put the directory of $(PY312) first.
SAM_PATH := $(abspath $(dir $(PY312))):$(PATH)
SAM_ENV := SAM_CLI_TELEMETRY=0 PATH="$(SAM_PATH)"

$(SAM): | python312
	@echo ">> installing aws-sam-cli==$(SAM_CLI_VERSION) and cfn-lint==$(CFN_LINT_VERSION) into $(SAM_VENV) (about a minute)"
	@test -n "$(PY312)" || { echo "PY312 is not set (path of a python3.12 interpreter)"; exit 1; }
	rm -rf $(SAM_VENV)
	$(PY312) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check \
		aws-sam-cli==$(SAM_CLI_VERSION) cfn-lint==$(CFN_LINT_VERSION)
	@touch $(SAM)

$(CFN_LINT): $(SAM)

.PHONY: validate build deploy

validate: $(SAM)
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$(AWS_DEFAULT_REGION) $(SAM) validate --lint --region $(AWS_DEFAULT_REGION)
	$(CFN_LINT) template.yaml

build: $(SAM)
	$(SAM_ENV) $(SAM) build

deploy: $(SAM)
	$(SAM_ENV) $(SAM) build --config-env $(ENV)
	$(SAM_ENV) $(SAM) deploy --config-env $(ENV)
