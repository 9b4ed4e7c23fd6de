"""Run a DSS scenario in deferrable mode, with trigger params templated from the DAG run.

With ``deferrable=True`` the worker fires the scenario, then hands the wait to the triggerer (no worker
slot is held while DSS works); ``execute_complete`` returns the same run dict as the worker mode.
``deferrable`` defaults to the ``[operators] default_deferrable`` Airflow option.

``trigger_params`` are rendered by Jinja before the fire: DSS passes them to the scenario run (step
variables ``${...}`` or ``scenario.get_trigger_params()`` in Python scenarios).

Trigger it with a conf to override the params, e.g. ``airflow dags trigger dss_run_deferred -c
'{"region": "EMEA"}'``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="dss_run_deferred",
    description="Run a DSS scenario deferred, with trigger params templated from the DAG run",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example"],
    params={"region": Param("ALL", type="string", description="sales region to build")},
) as dag:
    build_sales = DSSRunScenarioOperator(
        task_id="build_sales",
        project_key="DEMO",
        scenario_id="BUILD_SALES",
        trigger_params={
            "region": "{{ params.region }}",
            "run_date": "{{ dag_run.run_after | ds }}",
            "airflow_run_id": "{{ run_id }}",
        },
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(hours=1),
    )

    @task
    def check_params(run: dict[str, Any]) -> dict[str, Any]:
        """The run dict echoes the params DSS received."""
        print(f"DSS run {run['run_id']} ({run['outcome']}) got trigger params {run['trigger_params']}")
        return run["trigger_params"]

    check_params(build_sales.output)
