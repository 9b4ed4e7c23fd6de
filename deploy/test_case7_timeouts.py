"""Case 7: deferred runs with ``timeout`` and with ``execution_timeout`` shorter than the run: each run is
aborted when its limit passes and the task fails with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.harness import Deployment

pytestmark = pytest.mark.timeout(200)
DAG = "deploy_timeouts"
TASKS = {"with_timeout": "WAIT_120S", "with_execution_timeout": "WAIT_120S_B"}


@pytest.mark.case("7", "timeout / execution_timeout shorter than the run, deferred")
def test_deferred_timeouts_abort_the_run(deployment: Deployment, figures: dict[str, Any]) -> None:
    result = deployment.run_dag(DAG, timeout=120)
    assert result.state == "failed"
    assert result.tasks == {"with_timeout": "failed", "with_execution_timeout": "failed"}
    for task, scenario in TASKS.items():
        (run,) = deployment.dss_runs(scenario, "DEPLOY")
        assert run.outcome == "ABORTED", (task, run.outcome)
        assert result.xcom(task, "run_id") == run.run_id and result.xcom(task) is None
        c = deployment.counters(scenario, "DEPLOY")
        assert c["fires_accepted"] == c["runs_started"] == c["runs_aborted"] == 1, c
        took = run.end - run.start
        assert 8 <= took < 25, (task, took)
        log = deployment.task_log(DAG, result.run_id, task)
        assert "DSSTimeoutError" in log, log[-3000:]
        assert f"DEPLOY.{scenario}" in log or scenario in log, log[-3000:]
        assert "did not finish within" in log and "aborted it in DSS" in log, log[-3000:]
        figures[f"{task}: run aborted after"] = f"{took:.1f}s"
        figures[f"{task}: task failed after run abort"] = f"{(result.ended(task) or 0.0) - run.end:.1f}s"
