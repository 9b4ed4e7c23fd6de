"""Run a Dataiku DSS scenario and wait for it in the worker, then use its result downstream.

``DSSRunScenarioOperator`` fires the scenario, waits for the run to end (here in the worker slot,
``deferrable=False``) and returns the *run dict* as its ``return_value`` XCom::

    {"project_key", "scenario_id", "trigger_id", "trigger_run_id", "run_id", "outcome",
     "start", "end", "duration", "url", "trigger_params", "steps": [{"id", "name", "outcome", ...}]}

The second run shows WARNING handling: ``QUALITY_CHECKS`` ends WARNING, which passes by default
(``fail_on_warning=True`` would fail the task instead).

Connection: ``dataiku_dss_default`` (set ``AIRFLOW_CONN_DATAIKU_DSS_DEFAULT``, see the README).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="dss_run_and_wait",
    description="Run DSS scenarios, wait in the worker, read the run dicts downstream",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example"],
    default_args={"retries": 0},
) as dag:
    build_sales = DSSRunScenarioOperator(
        task_id="build_sales",
        project_key="DEMO",
        scenario_id="BUILD_SALES",
        deferrable=False,  # wait in the worker (see example_dss_run_deferred.py for the triggerer)
        poll_interval=2,
        timeout=timedelta(minutes=30),
    )

    quality_checks = DSSRunScenarioOperator(
        task_id="quality_checks",
        project_key="DEMO",
        scenario_id="QUALITY_CHECKS",
        deferrable=False,
        poll_interval=2,
        timeout=timedelta(minutes=10),
        fail_on_warning=False,  # the default: a WARNING run passes, its outcome is in the run dict
    )

    @task
    def summarize(build: dict[str, Any], checks: dict[str, Any]) -> dict[str, Any]:
        """Read the run dicts (XCom) and report what DSS did."""
        for run in (build, checks):
            print(
                f"{run['project_key']}.{run['scenario_id']}: run {run['run_id']} ended {run['outcome']} "
                f"in {run['duration']:.1f}s - {run['url']}"
            )
            for step in run["steps"]:
                print(f"  step {step['name']!r}: {step['outcome']}")
        return {"build_outcome": build["outcome"], "checks_outcome": checks["outcome"]}

    build_sales >> quality_checks
    summarize(build_sales.output, quality_checks.output)
