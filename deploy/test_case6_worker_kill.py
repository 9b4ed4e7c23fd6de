"""Case 6: the task's own process (``airflow worker -- <uuid>``) SIGKILLed mid-run in worker mode with
``retries=1``: the retry reattaches to the same DSS run (durable); it is neither fired again nor aborted."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from deploy.harness import Deployment, parse_time, wait_until

pytestmark = pytest.mark.timeout(240)
DAG = "deploy_worker_kill"


@pytest.mark.case("6", "task process SIGKILLed mid-run (worker mode, retries=1)")
def test_killed_worker_retry_reattaches(deployment: Deployment, figures: dict[str, Any]) -> None:
    run_id = deployment.trigger(DAG)
    deployment.wait_task_state(DAG, run_id, "run", "running", timeout=90)
    wait_until(lambda: deployment.dss_runs("WAIT_30S", "DEPLOY"), 60, "the DSS run")
    time.sleep(2)  # the task is polling the run
    (run,) = deployment.dss_runs("WAIT_30S", "DEPLOY")
    uuid = deployment.ti_uuid(DAG, run_id, "run")
    pid = deployment.wait_task_pid(uuid, timeout=30)
    os.kill(pid, signal.SIGKILL)
    killed = time.time()
    assert not deployment.dss_run("WAIT_30S", run.run_id, "DEPLOY").finished

    result = deployment.result(DAG, run_id, timeout=180)
    assert result.state == "success", result.tasks
    ti = result.tis["run"]
    assert ti["try_number"] == 2, ti
    assert ti["id"] != uuid
    done = result.xcom("run")
    assert done["run_id"] == run.run_id and done["outcome"] == "SUCCESS", done
    c = deployment.counters("WAIT_30S", "DEPLOY")
    assert c["fires_accepted"] == c["runs_started"] == 1, c  # the retry did not fire again
    assert c["aborts_requested"] == c["future_aborts_requested"] == c["runs_aborted"] == 0, c
    run = deployment.dss_run("WAIT_30S", run.run_id, "DEPLOY")
    assert run.outcome == "SUCCESS"
    log = deployment.task_log(DAG, run_id, "run", try_number=2)
    assert run.run_id in log, log[-2000:]
    figures["retry_started_after_kill_s"] = (parse_time(ti.get("start_date")) or killed) - killed
    figures["task_end_after_run_end_s"] = (result.ended("run") or 0.0) - run.end
