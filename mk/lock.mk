# Locked dependencies; included from the main Makefile.
#
#   make lock   resolve every requirements input into its lock file (every package pinned, with the hashes of all its
#               wheels), with uv against PyPI:
#                 layers/core/requirements.txt     -> layers/core/requirements.lock     Lambda: arm64, CPython 3.12
#                 functions/*/requirements.txt     -> functions/*/requirements.lock     the same, minus the layer's
#                 requirements-dev.txt             -> requirements-dev.lock             .venv, any platform
#               A lock keeps its pins while they still satisfy the inputs, so running it again changes nothing; after
#               an input changes (or a merge), run it and commit the locks. tests/integration/test_dependencies.py fails
#               while a lock no longer matches its inputs (it runs this file in a copy of the inputs and locks).
#
# Why uv and not pip-tools: uv resolves for a platform other than this machine's (the arm64 Lambda runtime), and it
# reads no pip configuration, so the locks come out the same on every machine; pip-compile resolves for the machine
# it runs on and copies the machine's pip settings (extra indexes, find-links) into the lock. The locks are installed
# with pip (`make venv`, mk/lambda/package.mk), which checks every file against the lock's hashes.

UV ?= $(VENV)/bin/uv
# Lambda's python3.12 runtime: Amazon Linux 2023 (glibc 2.34) on arm64 (template.yaml: Architectures).
LAMBDA_TARGET := --python-version 3.12 --python-platform aarch64-manylinux_2_34
# uv builds any sdist's metadata with .venv's python (it never downloads one of its own).
UV_COMPILE := $(UV) pip compile --quiet --no-config --python $(PY) --no-python-downloads --generate-hashes \
	--custom-compile-command "make lock"
LAYER_LOCK := layers/core/requirements.lock
FUNCTION_LOCKS := $(patsubst %.txt,%.lock,$(wildcard functions/*/requirements.txt))

.PHONY: lock

# What Lambda's runtime provides (layers/core/requirements-runtime.txt) is never packaged, also where a layer package
# depends on it (aws-xray-sdk, for Powertools' Tracer, on botocore): resolved at the runtime's pins, left out of the lock.
RUNTIME := layers/core/requirements-runtime.txt

lock: $(if $(filter $(VENV)/bin/uv,$(UV)),venv)
	@echo "==> locking $(LAYER_LOCK) (arm64, CPython 3.12, without what Lambda's runtime provides)"
	@$(UV_COMPILE) $(LAMBDA_TARGET) layers/core/requirements.txt -c $(RUNTIME) \
		$$(sed -n 's/^\([A-Za-z0-9._-]*\)==.*/--no-emit-package \1/p' $(RUNTIME)) -o $(LAYER_LOCK)
	@# A function's lock: what it needs beyond the layer, at the layer's versions (the layer is on its path).
	@for lock in $(FUNCTION_LOCKS); do \
		echo "==> locking $$lock (arm64, CPython 3.12, without the layer's packages)"; \
		$(UV_COMPILE) $(LAMBDA_TARGET) $${lock%.lock}.txt -c $(LAYER_LOCK) \
			$$(sed -n 's/^\([A-Za-z0-9._-]*\)==.*/--no-emit-package \1/p' $(LAYER_LOCK)) \
			-o $$lock || exit 1; \
	done
	@echo "==> locking requirements-dev.lock (any platform, CPython 3.12, at the Lambda locks' versions)"
	@$(UV_COMPILE) --universal --python-version 3.12 requirements-dev.txt \
		$(foreach lock,$(LAYER_LOCK) $(FUNCTION_LOCKS),-c $(lock)) -o requirements-dev.lock
