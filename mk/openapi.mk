# make openapi: the API's one OpenAPI document, docs/openapi.json, merged from every function's FastAPI app
# (local/openapi.py), then web/client's types generated from it (openapi-typescript -> web/client/src/api-types.ts).
# Both files are committed; tests/e2e/test_client_contract.py fails when either is not what this would write.

.PHONY: openapi

openapi: venv web/client/node_modules/.installed
	@$(PY) -m local.openapi
	@echo "==> web/client/src/api-types.ts from docs/openapi.json (openapi-typescript)"
	@cd web/client && node_modules/.bin/openapi-typescript ../../docs/openapi.json -o src/api-types.ts
