"""Deployment stage: deferred runs with a ``timeout`` and an ``execution_timeout`` shorter than the run
(case 7): each must abort its run and fail with a clear message."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="deploy_timeouts",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "deploy-stage"],
    default_args={"retries": 0},
) as dag:
    DSSRunScenarioOperator(
        task_id="with_timeout",
        project_key="DEPLOY",
        scenario_id="WAIT_120S",
        deferrable=True,
        poll_interval=1,
        timeout=timedelta(seconds=10),
    )
    DSSRunScenarioOperator(
        task_id="with_execution_timeout",
        project_key="DEPLOY",
        scenario_id="WAIT_120S_B",
        deferrable=True,
        poll_interval=1,
        execution_timeout=timedelta(seconds=10),
    )
