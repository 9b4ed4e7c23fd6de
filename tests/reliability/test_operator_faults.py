"""Faults around the operators, in the worker and deferred: fire, wait, log and report fetches,
timeouts and kills (which must reach DSS as an abort of the task's own run)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSError, DSSScenarioRunFailed, DSSTimeoutError
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from tests.fakes import FakeStateStore, make_context

from .conftest import Recorder
from .helpers import (
    KINDS,
    aborted_runs,
    call,
    counters,
    keep_context,
    run_deferred,
    unclear_reason,
)

pytestmark = pytest.mark.timeout(60)


def run_op(scenario: str = "TESTS_SMOKE", **kwargs: Any) -> DSSRunScenarioOperator:
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("max_poll_interval", 0.2)
    return DSSRunScenarioOperator(
        task_id=f"run_{scenario.lower()}",
        project_key="DEMO",
        scenario_id=scenario,
        trigger_params={"source": "reliability"},
        **kwargs,
    )


def execute(op: Any, context: dict[str, Any], rec: Recorder, deferred: bool, on_defer: Any = None) -> Any:
    if deferred:
        return run_deferred(op, context, rec, on_defer=on_defer)
    if on_defer is not None:
        on_defer()
    return op.execute(context)


def _cases() -> list[Any]:
    cases = []
    for mode in ("worker", "deferred"):
        for route in ("run", "get_run_for_trigger", "run_details"):
            kinds = (
                list(KINDS) if route == "run_details" else ["503", "500", "429", "reset", "html", "truncated"]
            )
            cases += [pytest.param(mode, route, kind, id=f"{mode}-{route}-{kind}") for kind in kinds]
    return cases


@pytest.mark.parametrize(("mode", "route", "kind"), _cases())
def test_run_operator_survives_fault_within_budget(
    dss_emulator: DSSEmulator, rec: Recorder, mode: str, route: str, kind: str
) -> None:
    rule, _ = KINDS[kind]
    count = 1 if kind == "slow" else 2
    deferred = mode == "deferred"
    fault = {**rule, "route": route, "count": count}
    context = make_context(FakeStateStore())
    # The wait faults hit the triggerer when deferred (added once the task deferred): the run must
    # still be going when the worker looks at it first, or the task never defers.
    later = route == "run_details" and deferred
    scenario = "LONG_REFRESH" if later else "TESTS_SMOKE"
    op = run_op(scenario, deferrable=deferred)
    rec.expect_runs(1)
    if not later:
        dss_emulator.faults.add(fault)
    result, err, _ = call(
        execute, op, context, rec, deferred, (lambda: dss_emulator.faults.add(fault)) if later else None
    )
    keep_context(rec, context, op)
    rec.keep("return value", result)
    assert err is None, f"{mode}/{route}/{kind} x{count} failed the task: {err}"
    assert result["outcome"] == "SUCCESS" and result["run_id"]
    assert dss_emulator.stats()["faults_total"] >= 1, "the fault never hit"
    rec.survived(f"{mode}-{route}-{kind}")
    assert counters(dss_emulator, f"DEMO.{scenario}")["fires_accepted"] == 1


@pytest.mark.parametrize("mode", ["worker", "deferred"])
@pytest.mark.parametrize("kind", ["503", "reset", "html", "non_json"])
def test_run_operator_wait_fault_that_does_not_clear(
    dss_emulator: DSSEmulator, rec: Recorder, mode: str, kind: str
) -> None:
    """The run's details keep failing during the wait: the task fails naming the fault and the run."""
    rule, said = KINDS[kind]
    dss_emulator.speed = 10  # TESTS_SMOKE ~0.1 s: still running when the wait starts
    context = make_context(FakeStateStore())
    op = run_op("LONG_REFRESH", deferrable=mode == "deferred")
    rec.expect_runs(1)
    deferred = mode == "deferred"

    def fault() -> None:
        dss_emulator.faults.add({**rule, "route": "run_details"})

    if not deferred:
        # Let the worker see the run once, then break the wait.
        original = op._wait_for_run

        def wait_then_break(ctx: Any, state: Any) -> Any:
            fault()
            return original(ctx, state)

        op._wait_for_run = wait_then_break  # type: ignore[method-assign]
    _, err, elapsed = call(execute, op, context, rec, deferred, fault if deferred else None)
    keep_context(rec, context, op)
    run_id = dict(context["ti"].xcoms).get("run_id")
    assert run_id, context["ti"].xcoms
    needles = ["DEMO", "LONG_REFRESH", str(run_id), said]
    if deferred:
        needles.append("Last successful DSS answer")
    why = unclear_reason(err, needles, elapsed, limit=45)
    assert not why, why
    rec.failed(f"{mode}-wait-{kind}", err)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["503", "reset", "html"])
def test_run_operator_fire_fault_that_does_not_clear(
    dss_emulator: DSSEmulator, rec: Recorder, kind: str
) -> None:
    rule, said = KINDS[kind]
    dss_emulator.faults.add({**rule, "route": "run"})
    context = make_context(FakeStateStore())
    op = run_op()
    rec.expect_runs(0)
    _, err, elapsed = call(op.execute, context)
    keep_context(rec, context, op)
    why = unclear_reason(err, ["DEMO", "TESTS_SMOKE", said], elapsed, limit=45)
    assert not why, why
    rec.failed(f"fire-{kind}", err)  # type: ignore[arg-type]


# --- log and report fetches -----------------------------------------------------------------------


def _finished_run(dss: DSSEmulator, scenario: str) -> str:
    context = make_context(FakeStateStore())
    result = run_op(scenario).execute(context)
    return str(result["run_id"])


@pytest.mark.parametrize("kind", ["503", "502", "429", "reset", "html", "slow"])
@pytest.mark.parametrize("what", ["log", "report"])
def test_log_and_report_fetch_survive(
    dss_emulator: DSSEmulator, rec: Recorder, tmp_path: Any, what: str, kind: str
) -> None:
    run_id = _finished_run(dss_emulator, "TESTS_SMOKE")
    rec.expect_runs(1)
    rule, _ = KINDS[kind]
    dss_emulator.faults.add({**rule, "route": what, "count": 1 if kind == "slow" else 3})
    cls = DSSGetScenarioRunLogOperator if what == "log" else DSSGetScenarioRunReportOperator
    op = cls(
        task_id=f"get_{what}",
        project_key="DEMO",
        scenario_id="TESTS_SMOKE",
        run_id=run_id,
        output_path=str(tmp_path / f"out.{what}"),
    )
    context = make_context(FakeStateStore())
    result, err, _ = call(op.execute, context)
    keep_context(rec, context, op)
    rec.keep("return value", result)
    assert err is None, f"{what} fetch failed under {kind}: {err}"
    assert (tmp_path / f"out.{what}").stat().st_size > 0
    rec.survived(f"{what}-{kind}")


@pytest.mark.parametrize("kind", ["503", "html", "reset"])
@pytest.mark.parametrize("what", ["log", "report"])
def test_log_and_report_fetch_fault_that_does_not_clear(
    dss_emulator: DSSEmulator, rec: Recorder, what: str, kind: str
) -> None:
    run_id = _finished_run(dss_emulator, "TESTS_SMOKE")
    rec.expect_runs(1)
    rule, said = KINDS[kind]
    dss_emulator.faults.add({**rule, "route": what})
    cls = DSSGetScenarioRunLogOperator if what == "log" else DSSGetScenarioRunReportOperator
    op = cls(task_id=f"get_{what}", project_key="DEMO", scenario_id="TESTS_SMOKE", run_id=run_id)
    context = make_context(FakeStateStore())
    _, err, elapsed = call(op.execute, context)
    keep_context(rec, context, op)
    why = unclear_reason(err, ["DEMO", "TESTS_SMOKE", run_id, said], elapsed, limit=30)
    assert not why, why
    rec.failed(f"{what}-{kind}", err)  # type: ignore[arg-type]


# --- timeouts and kills reach DSS as an abort of this task's run ------------------------------------


@pytest.mark.parametrize("mode", ["worker", "deferred"])
def test_timeout_aborts_this_run_through_faults(dss_emulator: DSSEmulator, rec: Recorder, mode: str) -> None:
    dss_emulator.speed = 5  # LONG_REFRESH takes 12 s
    context = make_context(FakeStateStore())
    op = run_op("LONG_REFRESH", deferrable=mode == "deferred", timeout=0.8)
    rec.expect_runs(1)
    rec.abort_requested()

    def abort_path_faults() -> None:
        for route in ("abort_future", "run_details"):
            dss_emulator.faults.add({"route": route, "kind": "status", "status": 503, "count": 2})

    started = time.monotonic()
    _, err, _ = call(execute, op, context, rec, mode == "deferred", abort_path_faults)
    keep_context(rec, context, op)
    assert isinstance(err, DSSTimeoutError), err
    assert time.monotonic() - started < 20
    run_id = dict(context["ti"].xcoms)["run_id"]
    assert run_id in str(err)
    assert aborted_runs(dss_emulator) == [f"DEMO.LONG_REFRESH/{run_id}"]
    rec.failed(f"{mode}-timeout", err)


def test_worker_kill_aborts_this_run(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    dss_emulator.speed = 5
    context = make_context(FakeStateStore())
    op = run_op("LONG_REFRESH", deferrable=False, abort_on_kill=True)
    rec.expect_runs(1)
    rec.abort_requested()
    outcome: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: outcome.update(zip(("r", "e", "t"), call(op.execute, context), strict=True))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while "run_id" not in dict(context["ti"].xcoms) and time.monotonic() < deadline:
        time.sleep(0.02)
    run_id = dict(context["ti"].xcoms)["run_id"]
    assert run_id
    dss_emulator.faults.add({"route": "abort_future", "kind": "status", "status": 502, "count": 1})
    op.on_kill()
    worker.join(20)
    assert not worker.is_alive()
    keep_context(rec, context, op)
    assert aborted_runs(dss_emulator) == [f"DEMO.LONG_REFRESH/{run_id}"]
    err = outcome["e"]
    assert isinstance(err, DSSScenarioRunFailed) and "ABORTED" in str(err), err
    rec.failed("worker-killed", err)


@pytest.mark.parametrize("abort_on_kill", [True, False])
async def test_deferred_kill_aborts_this_run(
    dss_emulator: DSSEmulator, rec: Recorder, abort_on_kill: bool
) -> None:
    """The task is killed while deferred: the triggerer cancels the trigger and calls its on_kill."""
    import asyncio

    from airflow.sdk.exceptions import TaskDeferred

    from .helpers import collect_events, rebuild

    dss_emulator.speed = 5
    context = make_context(FakeStateStore())
    op = run_op("LONG_REFRESH", deferrable=True, abort_on_kill=abort_on_kill)
    rec.expect_runs(1)
    with pytest.raises(TaskDeferred) as deferred:
        await asyncio.to_thread(op.execute, context)
    trigger = rebuild(deferred.value.trigger)
    rec.keep("trigger kwargs", trigger.serialize())
    run_id = dict(context["ti"].xcoms)["run_id"]
    task = asyncio.ensure_future(collect_events(trigger))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.on_kill()
    await trigger.cleanup()
    keep_context(rec, context, op)
    if abort_on_kill:
        rec.abort_requested()
        assert aborted_runs(dss_emulator) == [f"DEMO.LONG_REFRESH/{run_id}"]
    else:
        assert aborted_runs(dss_emulator) == []


def test_wait_fault_error_is_ours_even_when_run_fails(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    """A failing run whose log cannot be fetched still fails with the run's own error, not the fetch's."""
    dss_emulator.faults.add({"route": "log", "kind": "status", "status": 503})
    context = make_context(FakeStateStore())
    op = run_op("NIGHTLY_EXPORT", deferrable=False)
    rec.expect_runs(1)
    _, err, elapsed = call(op.execute, context)
    keep_context(rec, context, op)
    why = unclear_reason(err, ["DEMO", "NIGHTLY_EXPORT", "FAILED", "access denied"], elapsed, 30)
    assert not why, why
    assert isinstance(err, DSSError)
    rec.failed("failed-run-log-503", err)
