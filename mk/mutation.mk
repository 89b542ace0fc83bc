# Mutation testing; included from the main Makefile. Never part of `make test`.
#
#   make mutation   mutants of the usage ledger and budgets, the auth and CORS middleware, the image fetcher and the
#                   FAQ bot (bench/mutation.py), each run against its target's fast tests; survivors with their
#                   verdicts in bench/results/mutation.md (docs/mutation.md). Fails while a survivor has no verdict.
#                   MUTATION_ONLY="ledger web" runs some targets. 551 mutants; about 90 minutes on the shared, loaded 2-core
#                   machine (docs/mutation.md).

.PHONY: mutation

mutation: venv
	@$(PY) -m bench.mutation $(if $(MUTATION_ONLY),--only $(MUTATION_ONLY))
