"""Deployment stage: 50 mapped deferred waits at once, one scenario each (case 8)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

MAPPED_WAITS = 50

with DAG(
    dag_id="deploy_mapped_waits",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "deploy-stage"],
    default_args={"retries": 0},
    max_active_tasks=MAPPED_WAITS + 10,
) as dag:
    DSSRunScenarioOperator.partial(
        task_id="wait",
        project_key="DEPLOY",
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(minutes=8),
    ).expand(scenario_id=[f"MAP_{i:02d}" for i in range(MAPPED_WAITS)])
