# The two commands a newcomer needs, each creating its own environment first:
#   make serve   start the server with the shipped plugins on the embedded database
#   make test    run the whole test suite
.PHONY: serve test env

serve:
	@scripts/env.sh
	.venv/bin/toolserver serve

test:
	@scripts/env.sh
	scripts/test-deps.sh
	.venv/bin/python -m pytest $(PYTEST_ARGS)
