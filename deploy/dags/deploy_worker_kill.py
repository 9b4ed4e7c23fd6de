"""Deployment stage: a run waited for in the worker (durable, one retry), whose task process the stage
SIGKILLs mid-run (case 6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="deploy_worker_kill",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "deploy-stage"],
) as dag:
    DSSRunScenarioOperator(
        task_id="run",
        project_key="DEPLOY",
        scenario_id="WAIT_30S",
        deferrable=False,
        durable=True,
        poll_interval=1,
        max_poll_interval=2,
        retries=1,
        retry_delay=timedelta(seconds=1),
        timeout=timedelta(minutes=5),
    )
