"""Run several scenarios of a project in parallel with dynamic task mapping.

The list of scenarios is data (here a DAG param); ``DSSRunScenarioOperator.partial(...).expand(...)``
creates one mapped task instance per scenario at run time. A downstream task receives every run dict.

To map over *every* scenario of a project, compute the list in a task instead, e.g.
``DSSHook().list_scenarios("DEMO")``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param, task

from dss_provider.operators.run_scenario import DSSRunScenarioOperator

with DAG(
    dag_id="dss_mapped_scenarios",
    description="Run several DSS scenarios with dynamic task mapping",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dataiku", "example"],
    params={
        "scenarios": Param(
            ["PY_SCORING", "TESTS_SMOKE", "QUALITY_CHECKS"],
            type="array",
            description="scenario ids of project DEMO to run",
        )
    },
) as dag:

    @task
    def scenarios_to_run(params: dict[str, Any] | None = None) -> list[str]:
        return list((params or {})["scenarios"])

    runs = DSSRunScenarioOperator.partial(
        task_id="run_scenario",
        project_key="DEMO",
        deferrable=True,
        poll_interval=2,
        max_active_tis_per_dagrun=4,
    ).expand(scenario_id=scenarios_to_run())

    @task
    def outcomes(results: list[dict[str, Any]]) -> dict[str, str]:
        summary = {r["scenario_id"]: r["outcome"] for r in results}
        for scenario_id, outcome in sorted(summary.items()):
            print(f"DEMO.{scenario_id}: {outcome}")
        return summary

    outcomes(runs.output)
