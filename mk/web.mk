# The frontend kit; included from the main Makefile.
#
#   make web-client   npm ci in web/client (typescript, vitest: its own package-lock.json), then build it with tsc
#                     into web/client/dist (git-ignored)
#   make chromium     Debian's chromium + CJK and emoji fonts for the browser tests (only when missing; apt, root)
#
# The tests themselves run under pytest (tests/e2e): the vitest suite, the `ai` (useChat) compatibility test, the
# README examples and the browser tests (playwright-core from the root package.json driving /usr/bin/chromium).
# The demo page (web/demo) is plain JavaScript and needs none of this: `make dev` serves it as it is.

WEB_CLIENT := web/client
CHROMIUM_BIN := /usr/bin/chromium
BROWSER_FONTS := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
APT_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: web-client chromium

web-client: $(WEB_CLIENT)/dist/index.js

$(WEB_CLIENT)/node_modules/.installed: $(WEB_CLIENT)/package.json $(WEB_CLIENT)/package-lock.json
	@echo "==> npm packages for web/client (typescript, vitest)"
	@cd $(WEB_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_CLIENT)/dist/index.js: $(WEB_CLIENT)/node_modules/.installed $(WEB_CLIENT)/tsconfig.json $(wildcard $(WEB_CLIENT)/src/*.ts)
	@echo "==> building web/client (tsc -> $(WEB_CLIENT)/dist)"
	@rm -rf $(WEB_CLIENT)/dist
	@cd $(WEB_CLIENT) && node_modules/.bin/tsc -p tsconfig.json

chromium:
	@if [ ! -x $(CHROMIUM_BIN) ] || ! ls $(BROWSER_FONTS) >/dev/null 2>&1; then \
		echo "==> installing Debian's chromium and fonts (fonts-noto-cjk, fonts-noto-color-emoji) for the browser tests"; \
		$(APT_SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(APT_SUDO) apt-get install -y -qq --no-install-recommends \
			chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null && \
		echo "==> $$($(CHROMIUM_BIN) --version 2>/dev/null | tail -1)"; \
	fi

TEST_DEPS += web-client chromium
