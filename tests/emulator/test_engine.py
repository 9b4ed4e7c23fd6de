"""Engine and state unit tests with an injected clock (no HTTP)."""

from __future__ import annotations

import re

import pytest

from dss_provider.emulator.engine import Engine, ManualClock
from dss_provider.emulator.reports import run_report
from dss_provider.emulator.seed import build_catalog, default_seed, load_seed
from dss_provider.emulator.state import ApiKey, BadRequest, Forbidden, NotFound, Unauthorized
from dss_provider.emulator.views import render_details, render_light, render_log, render_run

ID_RE = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-\d{3}$")


def make(clock: ManualClock, seed: object = None, **kw: object) -> tuple[Engine, ApiKey]:
    eng = Engine(clock=clock, **kw)  # type: ignore[arg-type]
    eng.replace_catalog(build_catalog(load_seed(seed), "KEY", int(clock.t * 1000)))  # type: ignore[arg-type]
    return eng, eng.catalog.api_keys["KEY"]


def seed_with(steps: list[dict], **scenario: object) -> dict:
    return {
        "projects": [
            {
                "key": "P",
                "scenarios": [{"id": "S", "type": "step_based", "params": {"steps": steps}, **scenario}],
            }
        ]
    }


def step(sid: str, duration: float = 1, outcome: str = "SUCCESS", **extra: object) -> dict:
    return {
        "id": sid,
        "type": "custom_python",
        "params": {"emulator": {"duration": duration, "outcome": outcome}},
        **extra,
    }


def test_run_lifecycle(clock: ManualClock) -> None:
    eng, key = make(clock)
    sc = eng.scenario(key, "DEMO", "BUILD_SALES")
    fire = eng.fire(sc, {"x": 1}, key)
    assert ID_RE.match(fire.trigger_run_id) and not fire.cancelled and fire.run_id is None
    clock.tick(0.29)
    eng.advance(sc)
    assert sc.current is None and fire.run_id is None
    clock.tick(0.02)
    eng.advance(sc)
    run = sc.current
    assert run is not None and fire.run_id == run.run_id and run.run_id != fire.trigger_run_id
    assert ID_RE.match(run.run_id)
    doc = render_run(run)
    assert (
        doc["end"] == 0
        and "result" not in doc
        and doc["futureId"]
        and doc["trigger"]["trigger"]["id"] == "manual"
    )
    assert doc["trigger"]["params"] == {"x": 1}
    details = render_details(run, clock.t)
    assert len(details["stepRuns"]) == 1 and "result" not in details["stepRuns"][0]  # running step
    clock.tick(2.5)
    eng.advance(sc)
    details = render_details(run, clock.t)
    assert [s["result"]["outcome"] for s in details["stepRuns"] if "result" in s] == ["SUCCESS"]
    assert len(details["stepRuns"]) == 2
    clock.tick(10)
    eng.advance(sc)
    doc = render_run(run)
    assert run.finished and doc["result"]["outcome"] == "SUCCESS" and doc["end"] > doc["start"]
    assert doc["futureId"] is None and doc["result"]["type"] == "SCENARIO_DONE"
    steps = render_details(run, clock.t)["stepRuns"]
    assert len(steps) == 3
    assert steps[0]["additionalReportItems"][0]["type"] == "JOB_EXECUTED"
    assert steps[0]["additionalReportItems"][0]["jobId"].startswith("Build_SALES_PREPARED_")
    assert eng.stats()["scenarios"]["DEMO.BUILD_SALES"]["runs_by_outcome"] == {"SUCCESS": 1}


def test_logs_grow(clock: ManualClock) -> None:
    eng, key = make(clock)
    sc = eng.scenario(key, "DEMO", "BUILD_SALES")
    eng.fire(sc, {}, key)
    clock.tick(0.3)
    eng.advance(sc)
    run = sc.current
    assert run is not None
    sizes = []
    for _ in range(8):
        sizes.append(len(render_log(run, clock.t)))
        clock.tick(1)
        eng.advance(sc)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    log = render_log(run, clock.t)
    assert "Wrote 12034 rows to SALES_PREPARED" in log and "finished with outcome SUCCESS" in log
    one = render_log(run, clock.t, "comp_metrics_d_SALES_BY_REGION")
    assert "Compute metrics" in one and "SALES_PREPARED (type" not in one


def test_conditions_and_failure(clock: ManualClock) -> None:
    eng, key = make(clock)
    sc = eng.scenario(key, "DEMO", "NIGHTLY_EXPORT")
    eng.fire(sc, {}, key)
    clock.tick(100)
    eng.advance(sc)
    run = next(iter(sc.runs.values()))
    doc = render_run(run)
    assert doc["result"]["outcome"] == "FAILED"
    assert "access denied" in doc["result"]["thrown"]["message"]
    steps = render_details(run, clock.t)["stepRuns"]
    assert [s["step"]["id"] for s in steps] == ["build_0_true_d_EXPORT_S3", "cleanup"]
    assert [s["result"]["outcome"] for s in steps] == ["FAILED", "SUCCESS"]
    assert (
        steps[0]["result"]["thrown"]["clazz"] and steps[0]["additionalReportItems"][0]["outcome"] == "FAILED"
    )


@pytest.mark.parametrize(
    ("steps", "expected_ids", "outcome"),
    [
        ([step("a", outcome="WARNING"), step("b")], ["a", "b"], "WARNING"),
        (
            [step("a", outcome="FAILED"), step("b"), step("c", runConditionType="RUN_ALWAYS")],
            ["a", "c"],
            "FAILED",
        ),
        ([step("a", outcome="FAILED"), step("b", runConditionStatuses=["FAILED"])], ["a", "b"], "FAILED"),
        ([step("a", enabled=False), step("b", runConditionType="DISABLED"), step("c")], ["c"], "SUCCESS"),
        ([step("a", outcome="WARNING"), step("b", runConditionStatuses=["SUCCESS"])], ["a"], "WARNING"),
        ([], [], "SUCCESS"),
    ],
)
def test_run_conditions(clock: ManualClock, steps: list[dict], expected_ids: list[str], outcome: str) -> None:
    eng, key = make(clock, seed_with(steps))
    sc = eng.scenario(key, "P", "S")
    eng.fire(sc, {}, key)
    clock.tick(50)
    eng.advance(sc)
    run = next(iter(sc.runs.values()))
    assert run.outcome == outcome
    assert [s["step"]["id"] for s in render_details(run, clock.t)["stepRuns"]] == expected_ids


def test_fire_while_running_is_cancelled(clock: ManualClock) -> None:
    eng, key = make(clock)
    sc = eng.scenario(key, "DEMO", "LONG_REFRESH")
    first = eng.fire(sc, {}, key)
    clock.tick(1)
    second = eng.fire(sc, {}, key)
    assert not second.cancelled
    clock.tick(1)
    eng.advance(sc)
    assert second.cancelled and second.run_id is None and first.run_id is not None
    c = eng.stats()["scenarios"]["DEMO.LONG_REFRESH"]
    assert c["fires_accepted"] == 2 and c["fires_cancelled"] == 1 and c["runs_started"] == 1
    clock.tick(100)
    third = eng.fire(sc, {}, key)
    clock.tick(1)
    eng.advance(sc)
    assert not third.cancelled and third.run_id is not None


def test_simultaneous_fires_first_wins(clock: ManualClock) -> None:
    eng, key = make(clock)
    sc = eng.scenario(key, "DEMO", "BUILD_SALES")
    a, b = eng.fire(sc, {}, key), eng.fire(sc, {}, key)
    assert a.trigger_run_id != b.trigger_run_id
    clock.tick(0.5)
    eng.advance(sc)
    assert a.run_id is not None and not a.cancelled and b.cancelled


def test_abort(clock: ManualClock) -> None:
    eng, key = make(clock)
    sc = eng.scenario(key, "DEMO", "BUILD_SALES")
    assert eng.abort(sc) is False
    eng.fire(sc, {}, key)
    clock.tick(0.3 + 3)  # inside the second step
    pending = eng.fire(sc, {}, key)
    assert eng.abort(sc) is True
    assert pending.cancelled
    run = next(iter(sc.runs.values()))
    assert run.finished and run.outcome == "ABORTED" and sc.current is None
    steps = render_details(run, clock.t)["stepRuns"]
    assert [s["result"]["outcome"] for s in steps] == ["SUCCESS", "ABORTED"]
    assert render_run(run)["end"] == round(clock.t * 1000)
    clock.tick(100)
    eng.advance(sc)
    assert len(render_details(run, clock.t)["stepRuns"]) == 2
    c = eng.stats()["scenarios"]["DEMO.BUILD_SALES"]
    assert c["aborts_requested"] == 2 and c["runs_aborted"] == 1 and c["runs_by_outcome"] == {"ABORTED": 1}


def test_abort_future_only_that_run(clock: ManualClock) -> None:
    eng, key = make(clock)
    a = eng.scenario(key, "DEMO", "LONG_REFRESH")
    b = eng.scenario(key, "DEMO", "BUILD_SALES")
    eng.fire(a, {}, key)
    eng.fire(b, {}, key)
    clock.tick(1)
    runs = eng.running_runs(key)
    assert len(runs) == 2
    target = next(r for r in runs if r.scenario_id == "LONG_REFRESH")
    eng.abort_future(key, target.future_id)
    assert target.outcome == "ABORTED" and b.current is not None
    with pytest.raises(NotFound):
        eng.abort_future(key, target.future_id)
    assert eng.stats()["scenarios"]["DEMO.LONG_REFRESH"]["future_aborts_requested"] == 1


def test_history_pruned(clock: ManualClock) -> None:
    eng, key = make(clock, history_limit=3)
    sc = eng.scenario(key, "DEMO", "TESTS_SMOKE")
    for _ in range(10):
        eng.fire(sc, {}, key)
        eng.fire(sc, {}, key)  # cancelled
        clock.tick(5)
        eng.advance(sc)
    assert len(sc.runs) == 3 and len(sc.finished_order) == 3
    assert len(sc.fires) == 6  # 3 fires of kept runs + 3 cancelled fires
    assert eng.stats()["scenarios"]["DEMO.TESTS_SMOKE"]["runs_started"] == 10


def test_custom_python_and_speed(clock: ManualClock) -> None:
    eng, key = make(clock, speed=10)
    sc = eng.scenario(key, "DEMO", "PY_SCORING")
    eng.fire(sc, {}, key)
    clock.tick(0.03)
    eng.advance(sc)
    run = sc.current
    assert run is not None and abs((run.planned_end - run.start) - 0.2) < 1e-6
    clock.tick(0.2)
    eng.advance(sc)
    assert run.finished and run.outcome == "SUCCESS"
    steps = render_details(run, clock.t)["stepRuns"]
    assert len(steps) == 1 and steps[0]["step"]["type"] == "custom_python"
    assert "Scored 5000 customers" in render_log(run, clock.t)


def test_log_size_filler(clock: ManualClock) -> None:
    s = step("big")
    s["params"]["emulator"]["log_size"] = 100_000
    eng, key = make(clock, seed_with([s]))
    sc = eng.scenario(key, "P", "S")
    eng.fire(sc, {}, key)
    clock.tick(5)
    eng.advance(sc)
    assert len(render_log(next(iter(sc.runs.values())), clock.t)) > 100_000


def test_junit_report(clock: ManualClock) -> None:
    eng, key = make(
        clock,
        seed_with(
            [step("ok"), step("ko", outcome="FAILED"), step("x", runConditionType="RUN_ALWAYS")],
            markedAsTest=True,
        ),
    )
    sc = eng.scenario(key, "P", "S")
    eng.fire(sc, {}, key)
    clock.tick(10)
    eng.advance(sc)
    xml = run_report(next(iter(sc.runs.values())), clock.t).decode()
    assert xml.startswith("<?xml") and 'tests="3"' in xml and 'failures="1"' in xml and "<failure" in xml


def test_access_and_errors(clock: ManualClock) -> None:
    eng, key = make(clock)
    scoped = eng.catalog.api_keys["other-project-only-key"]
    with pytest.raises(Forbidden):
        eng.scenario(scoped, "DEMO", "BUILD_SALES")
    assert eng.scenario(scoped, "OTHER", "REFRESH").id == "REFRESH"
    with pytest.raises(NotFound, match="Project does not exist: NOPE"):
        eng.scenario(key, "NOPE", "X")
    with pytest.raises(NotFound, match=r"Scenario does not exist: DEMO\.X"):
        eng.scenario(key, "DEMO", "X")
    with pytest.raises(BadRequest):
        eng.scenario(key, "DEMO", "../etc")
    with pytest.raises(Unauthorized):
        eng.catalog.authenticate(["nope"])


def test_light_next_run(clock: ManualClock) -> None:
    eng, key = make(clock)
    nightly = render_light(eng.scenario(key, "DEMO", "NIGHTLY_EXPORT"), clock.t)
    assert nightly["nextRun"] > clock.t * 1000 and nightly["nextRun"] - clock.t * 1000 <= 86_400_000
    assert render_light(eng.scenario(key, "DEMO", "BUILD_SALES"), clock.t)["nextRun"] == 0


def test_invalid_scripts_rejected(clock: ManualClock) -> None:
    bad = seed_with([{"id": "a", "params": {"emulator": {"outcome": "MAYBE"}}}])
    with pytest.raises(ValueError):
        make(clock, bad)
    assert default_seed()["projects"][0]["key"] == "DEMO"
