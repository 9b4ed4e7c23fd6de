"""Fixtures of the operator tests: a task's context with the fake task instance and task state store of
``tests.fakes`` (Airflow's objects, not ours); everything DSS-side is real HTTP against the emulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from dss_provider.compat import TaskDeferred
from dss_provider.emulator.server import DSSEmulator
from tests.fakes import FakeStateStore, make_context


@pytest.fixture
def context() -> dict[str, Any]:
    return make_context(FakeStateStore())


@pytest.fixture
def dss_emulator(dss_emulator: DSSEmulator) -> DSSEmulator:
    """The emulator at a speed where BUILD_SALES takes 0.12 s and LONG_REFRESH 1.2 s."""
    dss_emulator.speed = 50
    return dss_emulator


def counters(dss: DSSEmulator, scenario: str, project: str = "DEMO") -> dict[str, Any]:
    return dict(dss.stats()["scenarios"].get(f"{project}.{scenario}", {}))


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def run_trigger(trigger: Any) -> dict[str, Any]:
    """Run a trigger inline (as ``airflow dags test`` does) and return its first event's payload."""
    event = asyncio.run(asyncio.wait_for(_first_event(trigger), timeout=60))
    return dict(event.payload)


def run_deferrable(op: Any, context: dict[str, Any], max_deferrals: int = 5) -> Any:
    """Execute a deferrable operator, running each trigger inline and resuming until it returns."""
    deferrals: list[TaskDeferred] = []
    call = lambda: op.execute(context)  # noqa: E731
    for _ in range(max_deferrals):
        try:
            return call()
        except TaskDeferred as deferred:
            deferrals.append(deferred)
            assert deferred.timeout is None
            payload = run_trigger(deferred.trigger)
            method = getattr(op, deferred.method_name)
            kwargs = dict(deferred.kwargs or {})
            call = lambda m=method, k=kwargs, p=payload: m(context, event=p, **k)  # noqa: E731
    raise AssertionError(f"still deferring after {max_deferrals} deferrals")


def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")
