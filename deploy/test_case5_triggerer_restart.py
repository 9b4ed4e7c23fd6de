"""Case 5: the triggerer stopped mid-wait (SIGTERM, and separately SIGKILL of its process group), then a
new one started: the deferred task completes, DSS saw one run, and nothing was aborted."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from deploy.harness import Deployment, wait_until

pytestmark = pytest.mark.timeout(240)
DAG = "deploy_run_deferred"


@pytest.mark.case("5", "triggerer stopped mid-wait, restarted")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_triggerer_restart_mid_wait(deployment: Deployment, figures: dict[str, Any], sig: int) -> None:
    run_id = deployment.trigger(DAG, {"scenario": "WAIT_30S"})
    deployment.wait_task_state(DAG, run_id, "run", "deferred", timeout=90)
    wait_until(lambda: deployment.dss_runs("WAIT_30S", "DEPLOY"), 30, "the DSS run")
    time.sleep(2)  # the trigger is polling
    (run,) = deployment.dss_runs("WAIT_30S", "DEPLOY")
    assert not run.finished

    stopped = time.monotonic()
    code = deployment.stop_triggerer(sig)
    figures["triggerer_exit"] = code
    figures["stopped_in_s"] = time.monotonic() - stopped
    assert deployment.task_states(DAG, run_id) == {"run": "deferred"}
    assert not deployment.dss_run("WAIT_30S", run.run_id, "DEPLOY").finished, "the wait was not cut mid-run"
    deployment.start_triggerer()

    result = deployment.result(DAG, run_id, timeout=150)
    assert result.state == "success", result.tasks
    assert result.tasks == {"run": "success"}
    done = result.xcom("run")
    assert done["run_id"] == run.run_id and done["outcome"] == "SUCCESS" and done["trigger_id"] == "manual"
    c = deployment.counters("WAIT_30S", "DEPLOY")
    assert c["fires_accepted"] == c["runs_started"] == 1, c
    assert c["aborts_requested"] == c["future_aborts_requested"] == c["runs_aborted"] == 0, c
    run = deployment.dss_run("WAIT_30S", run.run_id, "DEPLOY")
    assert run.outcome == "SUCCESS"
    figures["task_end_after_run_end_s"] = (result.ended("run") or 0.0) - run.end
