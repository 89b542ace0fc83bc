# How `sam build` packages every function and the CoreLayer (template.yaml: Metadata BuildMethod: makefile). SAM
# copies a CodeUri folder to a scratch directory and runs `make --makefile <that folder>/Makefile build-<LogicalId>`
# there, then zips $(ARTIFACTS_DIR); each such Makefile includes this file by its own path. What it installs is the
# folder's requirements.lock (mk/lock.mk: resolved for arm64 / CPython 3.12, with the hashes of every wheel).
#
# Why not SAM's own python3.12 builder: it ships no .pyc, and the zip's timestamps would invalidate ordinary ones, so
# every cold start compiled every module it imported (2-5x slower imports; `make bench`, bench/README.md). The whole
# artifact is compiled here once, into unchecked-hash .pyc files, which Python uses without looking at the
# source's timestamp.
#
#   AIRELAY_ARCH=x86_64   build for x86_64 instead of arm64 (the deployed architecture): bench/coldstart.py imports
#                         such a build on an x86_64 machine. Only the wheels differ (the locks hold the hashes of
#                         every platform's wheels).
#   PYTHON=...            the interpreter (default python3.12 on PATH; `make build` puts pyenv's first)

PYTHON ?= python3.12
AIRELAY_ARCH ?= aarch64
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): every manylinux tag up to 2_34 fits.
WHEELS := --implementation cp --python-version 3.12 --only-binary=:all: \
	$(foreach tag,manylinux2014 manylinux_2_17 manylinux_2_28 manylinux_2_34,--platform $(tag)_$(AIRELAY_ARCH))
# Exactly the lock (`make lock`): every file checked against its hashes, no dependency resolved here (a function's
# lock leaves out what the layer already holds).
PIP_INSTALL := $(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile \
	--require-hashes --no-deps $(WHEELS)
COMPILE := $(PYTHON) -m compileall -q --invalidation-mode unchecked-hash

# $(call package,FILES,SUBDIR): requirements.lock's wheels and FILES into $(ARTIFACTS_DIR)/SUBDIR, then .pyc for all.
define package
	$(PIP_INSTALL) --target "$(ARTIFACTS_DIR)/$(2)" -r requirements.lock
	cp -R $(1) "$(ARTIFACTS_DIR)/$(2)"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -type d -prune -exec rm -rf {} +
	$(COMPILE) "$(ARTIFACTS_DIR)"
endef
