"""Case 4: marking a deferred task failed through the REST API aborts exactly its DSS run, through the
run's future, within 5 s; a run of another DAG run going at the same time is left alone."""

from __future__ import annotations

import time
from typing import Any

import pytest

from deploy.harness import Deployment, wait_until

pytestmark = pytest.mark.timeout(200)
DAG = "deploy_run_deferred"


@pytest.mark.case("4", "mark a deferred task failed: its run aborted via its future")
def test_mark_failed_aborts_exactly_its_run(deployment: Deployment, figures: dict[str, Any]) -> None:
    victim = deployment.trigger(DAG, {"scenario": "WAIT_120S"})
    bystander = deployment.trigger(DAG, {"scenario": "WAIT_20S"})
    for run_id in (victim, bystander):
        deployment.wait_task_state(DAG, run_id, "run", "deferred", timeout=90)
    wait_until(lambda: deployment.dss_runs("WAIT_120S", "DEPLOY"), 30, "the DSS run of the victim")
    (run,) = deployment.dss_runs("WAIT_120S", "DEPLOY")
    assert not run.finished
    # The user marks a task that has been waiting: the triggerer runs both triggers (they poll). A task
    # marked failed before the triggerer picked its trigger up has no trigger to kill (Airflow's doing).
    polls = deployment.dss.stats()["requests"].get("run_details", 0)
    wait_until(
        lambda: deployment.dss.stats()["requests"].get("run_details", 0) >= polls + 4, 30, "trigger polls"
    )

    marked = time.time()
    deployment.mark_failed(DAG, victim, "run")
    wait_until(lambda: deployment.dss_run("WAIT_120S", run.run_id, "DEPLOY").finished, 15, "the abort")
    run = deployment.dss_run("WAIT_120S", run.run_id, "DEPLOY")
    lag = run.end - marked
    figures["abort_after_patch_s"] = lag
    assert run.outcome == "ABORTED"
    assert lag < 5, lag
    c = deployment.counters("WAIT_120S", "DEPLOY")
    assert c["future_aborts_requested"] == 1 and c["aborts_requested"] == 0, c  # through its future
    assert c["runs_aborted"] == 1 and c["fires_accepted"] == c["runs_started"] == 1, c

    assert deployment.wait_run(DAG, victim, timeout=60) == "failed"
    assert deployment.task_states(DAG, victim) == {"run": "failed"}
    assert deployment.xcom(DAG, victim, "run", "run_id") == run.run_id
    assert deployment.xcom(DAG, victim, "run") is None

    other = deployment.result(DAG, bystander, timeout=120)
    assert other.state == "success" and other.xcom("run")["outcome"] == "SUCCESS"
    b = deployment.counters("WAIT_20S", "DEPLOY")
    assert b["runs_aborted"] == b["aborts_requested"] == b["future_aborts_requested"] == 0, b
