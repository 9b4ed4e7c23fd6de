"""Fire a scenario without waiting, then sense its start and its end.

Useful when something else must happen between the fire and the end of the run, or when the wait
should live in sensors with their own timeouts and modes:

1. ``DSSRunScenarioOperator(wait_for_completion=False)`` fires and returns at once; it pushes the
   fire's ids as XComs ``trigger_id`` and ``trigger_run_id``.
2. ``DSSTriggerFireSensor`` waits until DSS turns that fire into a run and returns the run id.
3. ``DSSScenarioRunSensor`` (deferrable) waits for the run to end and returns the run dict; the run must
   end with one of ``success_outcomes`` (default SUCCESS and WARNING).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, task

from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from dss_provider.sensors.scenario_run import DSSScenarioRunSensor
from dss_provider.sensors.trigger_fire import DSSTriggerFireSensor

PROJECT = "DEMO"
SCENARIO = "BUILD_SALES"

with DAG(
    dag_id="dss_fire_and_sense",
    description="Fire a DSS scenario, then sense its start and end over XCom",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example"],
) as dag:
    fire = DSSRunScenarioOperator(
        task_id="fire",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        wait_for_completion=False,
    )

    run_started = DSSTriggerFireSensor(
        task_id="run_started",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        trigger_id="{{ ti.xcom_pull(task_ids='fire', key='trigger_id') }}",
        trigger_run_id="{{ ti.xcom_pull(task_ids='fire', key='trigger_run_id') }}",
        poke_interval=1,
        timeout=300,
    )

    run_finished = DSSScenarioRunSensor(
        task_id="run_finished",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        run_id="{{ ti.xcom_pull(task_ids='run_started') }}",  # the run id DSSTriggerFireSensor returned
        deferrable=True,  # the wait runs in the triggerer
        poll_interval=2,
        timeout=3600,
    )

    @task
    def report(run: dict[str, Any]) -> str:
        print(f"{run['scenario_id']} run {run['run_id']} ended {run['outcome']}: {run['url']}")
        return str(run["outcome"])

    fire >> run_started >> run_finished
    report(run_finished.output)
