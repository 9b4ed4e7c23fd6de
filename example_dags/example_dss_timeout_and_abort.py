"""Give a scenario run a time limit, and abort a run on purpose.

1. ``refresh_with_timeout``: ``timeout`` is a wall-clock limit on the whole wait (fire, start, run), in
   every mode. When it passes, the operator aborts *its own* run in DSS and the task fails with
   ``DSSTimeoutError``; the run ends ABORTED. (``LONG_REFRESH`` takes about a minute: 10 s is too little
   on purpose.) Airflow's ``execution_timeout`` does not cover the deferred wait; ``timeout`` does.
2. ``start_refresh`` -> ``refresh_started`` -> ``abort_refresh``: fire a run, learn its id, then abort
   exactly that run with ``DSSAbortScenarioOperator`` (without ``run_id`` it aborts whatever run the
   scenario has in progress; with nothing running it succeeds and says so).

``refresh_with_timeout`` is expected to fail; the rest of the DAG runs anyway (``all_done``).
Killing a waiting task (mark failed, clear) also aborts its run, unless ``abort_on_kill=False``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.common.compat.sdk import DAG

from dss_provider.operators.abort import DSSAbortScenarioOperator
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from dss_provider.sensors.trigger_fire import DSSTriggerFireSensor

PROJECT = "DEMO"
SCENARIO = "LONG_REFRESH"

with DAG(
    dag_id="dss_timeout_and_abort",
    description="A DSS run that times out (and is aborted), and an explicit abort",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example"],
    default_args={"retries": 0},
) as dag:
    refresh_with_timeout = DSSRunScenarioOperator(
        task_id="refresh_with_timeout",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        deferrable=True,
        poll_interval=2,
        timeout=timedelta(seconds=10),  # aborts the run and fails the task when it passes
    )

    start_refresh = DSSRunScenarioOperator(
        task_id="start_refresh",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        wait_for_completion=False,
        trigger_rule="all_done",
    )

    refresh_started = DSSTriggerFireSensor(
        task_id="refresh_started",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        trigger_id="{{ ti.xcom_pull(task_ids='start_refresh', key='trigger_id') }}",
        trigger_run_id="{{ ti.xcom_pull(task_ids='start_refresh', key='trigger_run_id') }}",
        poke_interval=1,
        timeout=300,
    )

    abort_refresh = DSSAbortScenarioOperator(
        task_id="abort_refresh",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        run_id="{{ ti.xcom_pull(task_ids='refresh_started') }}",  # this run only
        wait=True,  # until DSS shows it ABORTED
        timeout=timedelta(minutes=5),
    )

    refresh_with_timeout >> start_refresh >> refresh_started >> abort_refresh
