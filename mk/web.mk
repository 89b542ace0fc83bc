# The frontend kit; included from the main Makefile.
#
#   make web-client   npm ci in web/client (its own package-lock.json: eventsource-parser; typescript, vitest,
#                     openapi-typescript, esbuild), then build it with tsc into web/client/dist (git-ignored)
#   make demo-client  web/client bundled by esbuild into one ES module for the demo page,
#                     web/demo/build/airelay-client.js (git-ignored); `make dev` and `make test` make it
#   make chromium     Debian's chromium + CJK and emoji fonts for the browser tests (only when missing; apt, root)
#
# web/client's request and response types (src/api-types.ts) are generated from docs/openapi.json: `make openapi`.
# The tests themselves run under pytest (tests/e2e): the vitest suite, the `ai` (useChat) compatibility test, the
# README examples and the browser tests (playwright-core from the root package.json driving /usr/bin/chromium).

WEB_CLIENT := web/client
WEB_CLIENT_SOURCES := $(wildcard $(WEB_CLIENT)/src/*.ts)
DEMO_CLIENT := web/demo/build/airelay-client.js
CHROMIUM_BIN := /usr/bin/chromium
BROWSER_FONTS := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
APT_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: web-client demo-client chromium

web-client: $(WEB_CLIENT)/dist/index.js

demo-client: $(DEMO_CLIENT)

$(WEB_CLIENT)/node_modules/.installed: $(WEB_CLIENT)/package.json $(WEB_CLIENT)/package-lock.json
	@echo "==> npm packages for web/client (eventsource-parser; typescript, vitest, openapi-typescript, esbuild)"
	@cd $(WEB_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_CLIENT)/dist/index.js: $(WEB_CLIENT)/node_modules/.installed $(WEB_CLIENT)/tsconfig.json $(WEB_CLIENT_SOURCES)
	@echo "==> building web/client (tsc -> $(WEB_CLIENT)/dist)"
	@rm -rf $(WEB_CLIENT)/dist
	@cd $(WEB_CLIENT) && node_modules/.bin/tsc -p tsconfig.json

$(DEMO_CLIENT): $(WEB_CLIENT)/node_modules/.installed $(WEB_CLIENT)/package-lock.json $(WEB_CLIENT_SOURCES)
	@echo "==> bundling web/client for the demo page (esbuild -> $@)"
	@cd $(WEB_CLIENT) && node_modules/.bin/esbuild src/index.ts --bundle --format=esm --target=es2022 \
		--sourcemap --log-level=warning --outfile=$(CURDIR)/$@

chromium:
	@if [ ! -x $(CHROMIUM_BIN) ] || ! ls $(BROWSER_FONTS) >/dev/null 2>&1; then \
		echo "==> installing Debian's chromium and fonts (fonts-noto-cjk, fonts-noto-color-emoji) for the browser tests"; \
		$(APT_SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(APT_SUDO) apt-get install -y -qq --no-install-recommends \
			chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null && \
		echo "==> $$($(CHROMIUM_BIN) --version 2>/dev/null | tail -1)"; \
	fi

DEV_DEPS += demo-client
TEST_DEPS += web-client demo-client chromium
