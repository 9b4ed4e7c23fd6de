"""Deployment stage, opt-in scale case (deploy/test_case8_scale.py): mapped deferred waits, one 60 s
scenario each (``MAP_00``.. of the emulator's seed ``deploy_seed(mapped=N)``); the DAG run's conf
``{"waits": N}`` says how many."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="deploy_mapped_waits_scale",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "deploy-stage"],
    default_args={"retries": 0},
    params={"waits": 200},
    # Deferred tasks hold no slot of max_active_tasks (running and queued ones do): the executor's
    # parallelism is the limit that matters, this only keeps out of its way.
    max_active_tasks=256,
) as dag:

    @task
    def scenario_ids(**context: Any) -> list[str]:
        return [f"MAP_{i:02d}" for i in range(int(context["params"]["waits"]))]

    DSSRunScenarioOperator.partial(
        task_id="wait",
        project_key="DEPLOY",
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=30),
    ).expand(scenario_id=scenario_ids())
