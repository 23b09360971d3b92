# The commands a newcomer needs, each creating its own environment first:
#   make serve   start the server with the shipped plugins on the embedded database
#   make test    run the whole test suite
#   make bench   run the benchmark suite (about 7 minutes); prints a table, writes bench/RESULTS.md
#   make env-example  rewrite .env.example from the settings (a test checks it is current)
.PHONY: serve test env bench env-example

serve:
	@scripts/env.sh
	.venv/bin/toolserver serve

test:
	@scripts/env.sh
	scripts/test-deps.sh
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench:
	@scripts/env.sh
	@bench/ensure-wrk.sh
	.venv/bin/python bench/run.py $(BENCH_ARGS)

env-example:
	@scripts/env.sh
	.venv/bin/python -m toolserver.devtools.envexample > .env.example
