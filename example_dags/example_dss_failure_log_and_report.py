"""When a scenario fails, keep its failing step's log and its JUnit report as files.

``nightly_export`` runs ``NIGHTLY_EXPORT``, whose export step FAILS (a clean-up step still runs).
Then, whatever happened (``trigger_rule="all_done"``):

- ``failing_step`` finds the id of the first failed step (a few lines with ``DSSHook``);
- ``fetch_step_log`` writes that step's log to a file (the whole run's log if no step failed);
- ``fetch_junit_report`` writes the run's JUnit XML to a file and returns its counts
  ``{tests, failures, errors, skipped, path}`` (DSS keeps reports only for scenarios marked as test);
- ``surface`` prints where both are and what failed, then fails the DAG run if the run failed.

The run id comes from the ``run_id`` XCom, which the run operator pushes as soon as it is known, so it
is there even though ``nightly_export`` failed. Files go under the ``output_dir`` DAG param.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, AirflowFailException, Param, task

from dss_provider.hooks.dss import DSSHook
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.run_scenario import DSSRunScenarioOperator

PROJECT = "DEMO"
SCENARIO = "NIGHTLY_EXPORT"
RUN_ID = "{{ ti.xcom_pull(task_ids='nightly_export', key='run_id') }}"
OUTPUT_DIR = "{{ params.output_dir }}/{{ dag.dag_id }}/{{ dag_run.run_after | ts_nodash }}"

with DAG(
    dag_id="dss_failure_log_and_report",
    description="On failure, fetch the failing step's log and the JUnit report to files",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example"],
    default_args={"retries": 0},
    params={"output_dir": Param("/tmp/dss_reports", type="string", description="where files go")},
) as dag:
    nightly_export = DSSRunScenarioOperator(
        task_id="nightly_export",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        deferrable=True,
        poll_interval=2,
    )

    @task(trigger_rule="all_done")
    def failing_step(ti: Any = None) -> str:
        """The id of the first step that failed in the run ('' when none did)."""
        run_id = ti.xcom_pull(task_ids="nightly_export", key="run_id")
        if not run_id:
            return ""
        details = DSSHook().get_scenario(PROJECT, SCENARIO).get_run(run_id).get_details()
        return str((details.first_error_details or {}).get("step_id") or "")

    step = failing_step()

    fetch_step_log = DSSGetScenarioRunLogOperator(
        task_id="fetch_step_log",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        run_id=RUN_ID,
        step_id="{{ ti.xcom_pull(task_ids='failing_step') }}",
        output_path=OUTPUT_DIR + "/failing_step.log",
        trigger_rule="all_done",
    )

    fetch_junit_report = DSSGetScenarioRunReportOperator(
        task_id="fetch_junit_report",
        project_key=PROJECT,
        scenario_id=SCENARIO,
        run_id=RUN_ID,
        output_path=OUTPUT_DIR + "/junit.xml",
        trigger_rule="all_done",
    )

    @task(trigger_rule="all_done")
    def surface(ti: Any = None) -> dict[str, Any]:
        """Show where the files are and what failed; fail the DAG run when the scenario run failed."""
        log = ti.xcom_pull(task_ids="fetch_step_log") or {}
        report = ti.xcom_pull(task_ids="fetch_junit_report") or {}
        run_id = ti.xcom_pull(task_ids="nightly_export", key="run_id")
        print(f"DSS run {run_id} of {PROJECT}.{SCENARIO}")
        print(f"  log of step {log.get('step_id') or '(whole run)'}: {log.get('path')}")
        print(
            f"  JUnit report: {report.get('tests')} tests, {report.get('failures')} failures, "
            f"{report.get('errors')} errors: {report.get('path')}"
        )
        if log.get("path"):
            with open(log["path"], encoding="utf-8") as f:
                print("  last log lines:\n    " + "\n    ".join(f.read().splitlines()[-5:]))
        if ti.xcom_pull(task_ids="nightly_export") is None or report.get("failures") or report.get("errors"):
            raise AirflowFailException(f"{PROJECT}.{SCENARIO} run {run_id} failed; see the files above.")
        return {"log": log.get("path"), "report": report.get("path")}

    nightly_export >> step >> fetch_step_log
    nightly_export >> fetch_junit_report
    [fetch_step_log, fetch_junit_report] >> surface()
