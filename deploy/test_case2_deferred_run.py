"""Case 2: a deferred run under the real triggerer ends within seconds of the DSS run's end, with a
complete run dict whose ``trigger_id`` is DSS's (not the triggerer's row id)."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.harness import Deployment
from tests.dss_support import RUN_KEYS

pytestmark = pytest.mark.timeout(240)


@pytest.mark.case("2", "deferred run: ends with the DSS run, complete run dict")
def test_deferred_run_ends_with_the_dss_run(deployment: Deployment, figures: dict[str, Any]) -> None:
    result = deployment.run_dag("deploy_run_deferred", conf={"scenario": "WAIT_12S"}, timeout=120)
    assert result.state == "success", result.tasks
    assert result.tasks == {"run": "success"}
    run = result.xcom("run")
    assert isinstance(run, dict) and set(run) == RUN_KEYS, run
    assert run["trigger_id"] == "manual", run  # DSS's trigger id, not the triggerer's integer row id
    assert run["project_key"] == "DEPLOY" and run["scenario_id"] == "WAIT_12S"
    assert run["outcome"] == "SUCCESS" and run["steps"] and run["steps"][0]["outcome"] == "SUCCESS"
    assert run["trigger_params"] == {"airflow_run_id": result.run_id}
    for key in ("run_id", "trigger_id", "trigger_run_id"):
        assert result.xcom("run", key) == run[key], key
    assert result.xcom("run", "run_url") == run["url"]

    (dss_run,) = deployment.dss_runs("WAIT_12S", "DEPLOY")
    assert dss_run.run_id == run["run_id"] and dss_run.fire.trigger_run_id == run["trigger_run_id"]
    assert dss_run.finished and dss_run.outcome == "SUCCESS"
    counters = deployment.counters("WAIT_12S", "DEPLOY")
    assert counters["fires_accepted"] == counters["runs_started"] == 1
    assert counters["aborts_requested"] == counters["future_aborts_requested"] == 0
    lag = (result.ended("run") or 0.0) - dss_run.end
    figures.update(task_end_after_run_end_s=lag, dss_run_s=dss_run.end - dss_run.start)
    assert 0 <= lag < 10, lag
