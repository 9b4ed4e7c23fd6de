# The two commands of the README: `make demo` and `make test`. Each sets itself up from nothing.
.PHONY: demo test test-deploy test-deploy-scale test-releases lint bootstrap bench clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@.venv/bin/python scripts/demo.py

test: bootstrap
	@.venv/bin/python -m pytest -q -n 2

# The real-deployment stage: PostgreSQL, LocalExecutor, api-server, scheduler, dag-processor and triggerer
# as separate processes on 127.0.0.1 (deploy/setup.sh installs PostgreSQL and its drivers when missing).
test-deploy: bootstrap
	@bash deploy/setup.sh
	@timeout -k 60 1200 .venv/bin/python -m pytest -q -p no:cacheprovider deploy

# Opt-in, not in CI: case 8 at scale (deploy/test_case8_scale.py), DSS_DEPLOY_SCALE_WAITS mapped deferred
# waits (default 200) on 60 s DSS runs, 24 executor slots (DSS_DEPLOY_PARALLELISM); 5 to 10 minutes here.
test-deploy-scale: bootstrap
	@bash deploy/setup.sh
	@DSS_DEPLOY_SCALE_WAITS=$${DSS_DEPLOY_SCALE_WAITS:-200} DSS_DEPLOY_PARALLELISM=$${DSS_DEPLOY_PARALLELISM:-24} \
		timeout -k 60 2400 .venv/bin/python -m pytest -q -p no:cacheprovider deploy/test_case8_scale.py

# Airflow 3.0, 3.1 and 3.2, each in .venv-airflow-3.X from requirements/airflow-3.X.lock.
test-releases: bootstrap
	@bash scripts/test-airflow-releases.sh

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: bootstrap
	@.venv/bin/python -m benchmarks

clean:
	rm -rf .venv .venv-airflow-* .cache .pytest_cache .mypy_cache .ruff_cache
