"""Triggers in the triggerer: DSS down and back, faults on the fire wait, restarts and moves to
another triggerer (the same wait resumes with no side effect)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.hooks.dss import DSSHook
from dss_provider.triggers import events
from dss_provider.triggers.events import exception_from_event
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger

from .conftest import Recorder
from .helpers import CONN_ID, aborted_runs, collect_events, counters, rebuild, unclear_reason

pytestmark = pytest.mark.timeout(60)


def _fire(scenario: str = "LONG_REFRESH") -> tuple[str, str]:
    hook = DSSHook(CONN_ID)
    try:
        fire = hook.fire_scenario("DEMO", scenario, {"source": "trigger-test"})
        return fire.trigger_id, fire.trigger_run_id
    finally:
        hook.close()


def _run_trigger(scenario: str, **kwargs: Any) -> DSSScenarioRunTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("max_poll_interval", 0.2)
    return DSSScenarioRunTrigger("DEMO", scenario, dss_conn_id=CONN_ID, **kwargs)


def _in_another_triggerer(trigger: Any) -> list[dict[str, Any]]:
    """Run a trigger to its event on a fresh event loop in another thread (another triggerer)."""
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["events"] = asyncio.run(collect_events(trigger, timeout=40))
        except BaseException as err:  # reported to the test thread
            box["error"] = err

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(45)
    if "error" in box:
        raise box["error"]
    return list(box["events"])


@pytest.mark.parametrize("phase", ["fire", "run"])
@pytest.mark.parametrize("how", ["restart", "moved"])
async def test_trigger_restart_resumes_same_wait(
    dss_emulator: DSSEmulator, rec: Recorder, phase: str, how: str
) -> None:
    dss_emulator.speed = 20  # LONG_REFRESH 3 s
    trigger_id, trigger_run_id = await asyncio.to_thread(_fire)
    rec.expect_runs(1)
    trigger = _run_trigger(
        "LONG_REFRESH", trigger_id=trigger_id, trigger_run_id=trigger_run_id, abort_on_kill=True
    )
    if phase == "run":
        first = asyncio.ensure_future(collect_events(trigger))
        await asyncio.sleep(0.5)
    else:
        dss_emulator.faults.add(
            {"route": "get_run_for_trigger", "kind": "status", "status": 503, "duration": 0.6}
        )
        first = asyncio.ensure_future(collect_events(trigger))
        await asyncio.sleep(0.3)
    # The triggerer stops (or loses the trigger): the trigger is cancelled and cleaned up, never killed.
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await trigger.cleanup()
    rec.keep("trigger kwargs", trigger.serialize())
    again = rebuild(trigger)
    if how == "restart":
        got = await collect_events(again)
    else:
        got = await asyncio.to_thread(_in_another_triggerer, again)
    rec.keep("events", got)
    assert len(got) == 1 and got[0]["status"] == events.FINISHED, got
    assert got[0]["outcome"] == "SUCCESS"
    assert got[0]["trigger_run_id"] == trigger_run_id
    c = counters(dss_emulator, "DEMO.LONG_REFRESH")
    assert c["fires_accepted"] == 1 and c["runs_started"] == 1 and c["runs_aborted"] == 0, c
    assert aborted_runs(dss_emulator) == []
    rec.survived(f"trigger-{how}-{phase}")


async def test_dss_down_then_back_during_deferred_wait(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    dss_emulator.speed = 20
    trigger_id, trigger_run_id = await asyncio.to_thread(_fire)
    rec.expect_runs(1)
    rec.fault("refused")
    trigger = _run_trigger(
        "LONG_REFRESH", trigger_id=trigger_id, trigger_run_id=trigger_run_id, max_consecutive_failures=20
    )
    task = asyncio.ensure_future(collect_events(trigger))
    await asyncio.sleep(0.4)
    await asyncio.to_thread(dss_emulator.stop)
    await asyncio.sleep(1.5)
    await asyncio.to_thread(dss_emulator.start)
    got = await task
    rec.keep("events", got)
    assert got[0]["status"] == events.FINISHED and got[0]["outcome"] == "SUCCESS", got
    rec.survived("deferred-dss-down-1.5s")


async def test_dss_down_for_good_during_deferred_wait(dss_emulator: DSSEmulator, rec: Recorder) -> None:
    dss_emulator.speed = 5
    trigger_id, trigger_run_id = await asyncio.to_thread(_fire)
    rec.expect_runs(1)
    rec.fault("refused")
    trigger = _run_trigger(
        "LONG_REFRESH", trigger_id=trigger_id, trigger_run_id=trigger_run_id, max_consecutive_failures=4
    )
    task = asyncio.ensure_future(collect_events(trigger))
    await asyncio.sleep(0.4)
    await asyncio.to_thread(dss_emulator.stop)
    started = time.monotonic()
    got = await task
    rec.keep("events", got)
    event = events.validate_event(got[0], events.RUN_TRIGGER_STATUSES, task="t")
    assert event["status"] == events.ERROR
    err = exception_from_event(event)
    why = unclear_reason(
        err,
        [
            "DEMO",
            "LONG_REFRESH",
            str(event["run_id"]),
            "Could not get an answer",
            "Last successful DSS answer",
        ],
        time.monotonic() - started,
        limit=20,
    )
    assert not why, why
    rec.failed("deferred-dss-down", err)


@pytest.mark.parametrize("route", ["get_run_for_trigger", "trigger_fire"])
@pytest.mark.parametrize("kind", ["503", "429", "reset", "html", "truncated"])
async def test_fire_trigger_survives_faults(
    dss_emulator: DSSEmulator, rec: Recorder, route: str, kind: str
) -> None:
    rules = {
        "503": {"kind": "status", "status": 503},
        "429": {"kind": "status", "status": 429, "retry_after": 1},
        "reset": {"kind": "drop"},
        "html": {"kind": "html", "status": 502},
        "truncated": {"kind": "truncated"},
    }
    dss_emulator.speed = 2  # the fire turns into a run after 0.15 s: trigger_fire is asked meanwhile
    dss_emulator.faults.add({**rules[kind], "route": route, "count": 3})
    trigger_id, trigger_run_id = await asyncio.to_thread(_fire, "BUILD_SALES")
    rec.expect_runs(1)
    trigger = DSSTriggerFireTrigger(
        "DEMO",
        "BUILD_SALES",
        trigger_id,
        trigger_run_id,
        dss_conn_id=CONN_ID,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    got = await collect_events(rebuild(trigger))
    rec.keep("events", got)
    assert got[0]["status"] == events.RUN_STARTED and got[0]["run_id"], got
    rec.survived(f"fire-trigger-{route}-{kind}")
