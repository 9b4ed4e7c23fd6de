"""Deployment stage: fire, then a deferred fire sensor on a fire DSS has not started yet, then a deferred
run sensor (case 3)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from dss_provider.sensors.scenario_run import DSSScenarioRunSensor
from dss_provider.sensors.trigger_fire import DSSTriggerFireSensor

PROJECT, SCENARIO = "DEPLOY", "WAIT_20S"

with DAG(
    dag_id="deploy_fire_pending",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "deploy-stage"],
    default_args={"retries": 0},
) as dag:
    fire = DSSRunScenarioOperator(
        task_id="fire", project_key=PROJECT, scenario_id=SCENARIO, wait_for_completion=False
    )
    run_started = DSSTriggerFireSensor(
        task_id="run_started",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        trigger_id="{{ ti.xcom_pull(task_ids='fire', key='trigger_id') }}",
        trigger_run_id="{{ ti.xcom_pull(task_ids='fire', key='trigger_run_id') }}",
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )
    run_finished = DSSScenarioRunSensor(
        task_id="run_finished",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        run_id="{{ ti.xcom_pull(task_ids='run_started') }}",
        deferrable=True,
        poll_interval=1,
        timeout=300,
    )
    fire >> run_started >> run_finished
