# The two commands of the README: `make demo` and `make test`. Each sets itself up from nothing.
.PHONY: demo test lint bootstrap bench clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@.venv/bin/python scripts/demo.py

test: bootstrap
	@.venv/bin/python -m pytest -q

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: bootstrap
	@.venv/bin/python -m benchmarks

clean:
	rm -rf .venv .cache .pytest_cache .mypy_cache .ruff_cache
