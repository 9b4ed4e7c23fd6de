"""Case 3: a deferred fire sensor on a fire DSS has not turned into a run yet (the emulator's start delay
stretched to 15 s), then a deferred run sensor, under the real triggerer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from deploy.harness import Deployment
from dss_provider.emulator.engine import START_DELAY
from tests.dss_support import RUN_KEYS

pytestmark = pytest.mark.timeout(200)
PENDING_S = 15.0


@pytest.mark.case("3", "deferred fire sensor on a pending fire, then the run sensor")
def test_deferred_fire_sensor_on_a_pending_fire(deployment: Deployment, figures: dict[str, Any]) -> None:
    dss = deployment.dss
    dss.speed = START_DELAY / PENDING_S  # a fire starts its run 15 s after it was accepted
    run_id = deployment.trigger("deploy_fire_pending")
    deployment.wait_task_state("deploy_fire_pending", run_id, "run_started", "deferred", timeout=PENDING_S)
    sc = dss.state.get_scenario("DEPLOY", "WAIT_20S")
    with dss.state.lock:
        (fire,) = sc.fires.values()
        pending = fire.run_id is None and not fire.cancelled
        planned_start = fire.planned_start
        dss.speed = 1.0  # the run itself (planned when it starts) takes its scripted 20 s
    assert pending, "the fire had already started a run: the sensor did not wait on a pending fire"
    figures["deferred_on_pending_fire_for_s"] = planned_start - time.time()

    result = deployment.result("deploy_fire_pending", run_id, timeout=120)
    assert result.state == "success", result.tasks
    assert result.tasks == {"fire": "success", "run_started": "success", "run_finished": "success"}
    fired = result.xcom("fire")
    assert fired["trigger_id"] == "manual" and fired["trigger_run_id"] == fire.trigger_run_id
    (dss_run,) = deployment.dss_runs("WAIT_20S", "DEPLOY")
    assert result.xcom("run_started") == dss_run.run_id == fire.run_id
    finished = result.xcom("run_finished")
    assert set(finished) == RUN_KEYS and finished["run_id"] == dss_run.run_id
    assert finished["trigger_id"] == "manual" and finished["trigger_run_id"] == fire.trigger_run_id
    assert finished["outcome"] == "SUCCESS" and dss_run.outcome == "SUCCESS"
    c = deployment.counters("WAIT_20S", "DEPLOY")
    assert c["fires_accepted"] == c["runs_started"] == 1 and c["fires_cancelled"] == 0
    assert c["aborts_requested"] == c["future_aborts_requested"] == 0
    sensed = result.ended("run_started") or 0.0
    figures["fire_sensor_end_after_run_start_s"] = sensed - dss_run.start
    figures["run_sensor_end_after_run_end_s"] = (result.ended("run_finished") or 0.0) - dss_run.end
