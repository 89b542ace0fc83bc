# make openapi: the API's one OpenAPI document, docs/openapi.json, merged from every function's FastAPI app
# (local/openapi.py), then web/client's types generated from it (openapi-typescript -> web/client/src/api-types.ts).
# Request bodies' fields with a default stay optional in the types (--default-non-nullable=false, in web/client's
# `generate` script). Both files are committed; tests/e2e/test_client_contract.py fails when either is not what this would write.

.PHONY: openapi

openapi: venv web/client/node_modules/.installed
	@$(PY) -m local.openapi
	@echo "==> web/client/src/api-types.ts from docs/openapi.json (openapi-typescript)"
	@cd web/client && npm run --silent generate
DEV_DEPS += node_modules/.installed  # swagger-ui-dist, for the local API's /docs
