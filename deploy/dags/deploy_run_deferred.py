"""Deployment stage: one deferred run of the scenario given in the conf (cases 2, 4, 5 and 9)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="deploy_run_deferred",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "deploy-stage"],
    default_args={"retries": 0},
    params={"project": Param("DEPLOY", type="string"), "scenario": Param("WAIT_12S", type="string")},
) as dag:
    DSSRunScenarioOperator(
        task_id="run",
        project_key="{{ params.project }}",
        scenario_id="{{ params.scenario }}",
        trigger_params={"airflow_run_id": "{{ run_id }}"},
        deferrable=True,
        poll_interval=1,
        max_poll_interval=2,
        timeout=timedelta(minutes=5),
    )
