"""Case 1: every example DAG, end to end through the real scheduler, workers and triggerer.

The same assertions as the ``dag.test()`` suite (``tests/e2e/test_example_dags.py``): DAG run and task
states, the run dicts in XCom, what the emulator saw. DAGs whose scenarios do not overlap run at the same
time (three batches), so the stage stays short.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy.harness import DagRunResult, Deployment, deploy_seed, parse_time, stretch_runs
from tests.e2e.test_example_dags import (
    DSS_RUNS,
    EXAMPLE_DAG_IDS,
    MAPPED_OUTCOMES,
    RUN_ID,
    TASK_STATES,
    _assert_run_dict,
    _assert_runs,
)

pytestmark = pytest.mark.timeout(280)

Check = Callable[[DagRunResult, Deployment], None]


def _run_and_wait(result: DagRunResult, dep: Deployment) -> None:
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_run_and_wait"]
    build = _assert_run_dict(result, "build_sales", dep.dss, "BUILD_SALES", "SUCCESS")
    assert [s["outcome"] for s in build["steps"]] == ["SUCCESS"] * 3
    checks = _assert_run_dict(result, "quality_checks", dep.dss, "QUALITY_CHECKS", "WARNING")
    assert [s["outcome"] for s in checks["steps"]] == ["SUCCESS", "WARNING"]
    assert result.xcom("summarize") == {"build_outcome": "SUCCESS", "checks_outcome": "WARNING"}


def _run_deferred(result: DagRunResult, dep: Deployment) -> None:
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_run_deferred"]
    run = _assert_run_dict(result, "build_sales", dep.dss, "BUILD_SALES", "SUCCESS")
    assert run["trigger_params"]["region"] == "EMEA"
    assert run["trigger_params"]["airflow_run_id"] == result.run_id
    assert dep.dss_run("BUILD_SALES", run["run_id"]).fire.params == run["trigger_params"]
    assert result.xcom("check_params") == run["trigger_params"]


def _fire_and_sense(result: DagRunResult, dep: Deployment) -> None:
    assert result.state == "success"
    assert result.tasks == TASK_STATES["dss_fire_and_sense"]
    fired = result.xcom("fire")
    assert fired["run_id"] is None and fired["trigger_id"] == "manual"
    run_id = result.xcom("run_started")
    assert RUN_ID.match(run_id)
    finished = result.xcom("run_finished")
    assert finished["run_id"] == run_id and finished["trigger_run_id"] == fired["trigger_run_id"]
    assert finished["outcome"] == "SUCCESS" and finished["trigger_id"] == "manual"
    assert result.xcom("report") == "SUCCESS"


def _timeout_and_abort(result: DagRunResult, dep: Deployment) -> None:
    assert result.tasks == TASK_STATES["dss_timeout_and_abort"]
    assert result.state == "success"
    timed_out = result.xcom("refresh_with_timeout", "run_id")
    assert RUN_ID.match(timed_out) and result.xcom("refresh_with_timeout") is None
    run = dep.dss_run("LONG_REFRESH", timed_out)
    assert run.finished and run.outcome == "ABORTED"
    assert 8 <= run.end - run.start < 20, run.end - run.start
    started = result.xcom("refresh_started")
    abort = result.xcom("abort_refresh")
    assert abort["run_id"] == started != timed_out and abort["aborted"] is True
    assert dep.dss_run("LONG_REFRESH", started).outcome == "ABORTED"
    assert dep.counters("LONG_REFRESH")["runs_aborted"] == 2


def _failure_log_and_report(result: DagRunResult, dep: Deployment) -> None:
    assert result.tasks == TASK_STATES["dss_failure_log_and_report"]
    assert result.state == "failed"
    run_id = result.xcom("nightly_export", "run_id")
    assert RUN_ID.match(run_id) and result.xcom("nightly_export") is None
    assert dep.dss_run("NIGHTLY_EXPORT", run_id).outcome == "FAILED"
    assert result.xcom("failing_step") == "build_0_true_d_EXPORT_S3"
    log = result.xcom("fetch_step_log")
    assert log["run_id"] == run_id and Path(log["path"]).stat().st_size == log["size"] > 0
    report = result.xcom("fetch_junit_report")
    assert report["tests"] == 2 and report["failures"] == 1 and report["errors"] == 0
    assert "access denied" in Path(report["path"]).read_text(encoding="utf-8")


def _mapped_scenarios(result: DagRunResult, dep: Deployment) -> None:
    assert result.state == "success"
    expected = MAPPED_OUTCOMES
    assert result.tasks == TASK_STATES["dss_mapped_scenarios"]
    for i, scenario in enumerate(expected):
        _assert_run_dict(result, f"run_scenario[{i}]", dep.dss, scenario, expected[scenario])
    assert result.xcom("outcomes") == expected


#: dag id -> its check (the DSS runs it makes: ``DSS_RUNS``)
CHECKS: dict[str, Check] = {
    "dss_run_and_wait": _run_and_wait,
    "dss_timeout_and_abort": _timeout_and_abort,
    "dss_failure_log_and_report": _failure_log_and_report,
    "dss_run_deferred": _run_deferred,
    "dss_mapped_scenarios": _mapped_scenarios,
    "dss_fire_and_sense": _fire_and_sense,
}
#: DAGs of a batch touch different scenarios, so they run at the same time.
BATCHES = [
    ["dss_run_and_wait", "dss_timeout_and_abort", "dss_failure_log_and_report"],
    ["dss_run_deferred", "dss_mapped_scenarios"],
    ["dss_fire_and_sense"],
]


#: Scheduled on an asset watched in the triggerer, not triggered: proven by ``test_event_driven.py``.
ASSET_SCHEDULED = {"dss_event_driven"}


def test_batches_cover_every_example_dag() -> None:
    batched = sorted(d for batch in BATCHES for d in batch)
    assert batched == sorted(EXAMPLE_DAG_IDS - ASSET_SCHEDULED) == sorted(CHECKS)


@pytest.mark.case("1", "every example DAG through the scheduler")
@pytest.mark.parametrize("batch", BATCHES, ids=["+".join(b) for b in BATCHES])
def test_example_dags(deployment: Deployment, figures: dict[str, Any], batch: list[str]) -> None:
    # runs of at least 12 s (BUILD_SALES 18 s: the run sensor of dss_fire_and_sense defers mid-run), out
    # of the window of an open Airflow race on deferred waits that end at once (see stretch_runs)
    deployment.dss.reset(stretch_runs(deploy_seed(), 12, BUILD_SALES=18))
    confs = {
        "dss_run_deferred": {"region": "EMEA"},
        "dss_failure_log_and_report": {"output_dir": str(deployment.root / "reports")},
    }
    run_ids = {dag_id: deployment.trigger(dag_id, confs.get(dag_id)) for dag_id in batch}
    results = {dag_id: deployment.result(dag_id, run_id, timeout=200) for dag_id, run_id in run_ids.items()}
    expected_runs: dict[str, dict[str, int]] = {}
    for dag_id, result in results.items():
        CHECKS[dag_id](result, deployment)
        expected_runs.update(DSS_RUNS[dag_id])
        run = deployment.dag_run(dag_id, result.run_id)
        took = (parse_time(run["end_date"]) or 0.0) - (parse_time(run["start_date"]) or 0.0)
        figures[dag_id] = f"{result.state} in {took:.0f}s"
    _assert_runs(deployment.dss, expected_runs)
