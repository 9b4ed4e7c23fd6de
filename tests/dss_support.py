"""Fixtures and helpers shared by the sensor and trigger tests: the session emulator (reset per test)
run fast, and waits on the emulator's runs (``fast_backoff`` and ``hook`` are in tests/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.hooks import dss_async
from dss_provider.hooks.dss import DSSHook

#: The keys of the run dict every run task returns (the public XCom contract), and of each step in it.
RUN_KEYS = {
    "project_key",
    "scenario_id",
    "trigger_id",
    "trigger_run_id",
    "run_id",
    "outcome",
    "start",
    "end",
    "duration",
    "url",
    "trigger_params",
    "steps",
}
STEP_KEYS = {"id", "name", "type", "outcome", "start", "end", "job_ids", "error"}

#: BUILD_SALES takes 6 s of scripted time: 0.12 s here; LONG_REFRESH (60 s) 1.2 s.
SPEED = 50.0


@pytest.fixture
def dss_emulator(dss_emulator: DSSEmulator) -> Iterator[DSSEmulator]:
    """A fresh demo DSS at SPEED; AIRFLOW_CONN_DATAIKU_DSS_DEFAULT points at it."""
    dss_emulator.speed = SPEED
    yield dss_emulator
    dss_emulator.faults.clear()
    # Every trigger of a test must have left the shared async client.
    assert not dss_async.open_clients(), f"shared DSS clients left open: {dss_async.open_clients()}"


def fire(hook: DSSHook, scenario_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fire a DEMO scenario; the raw trigger fire."""
    return dict(hook.fire_scenario("DEMO", scenario_id, params).trigger_fire)


def wait_run_id(hook: DSSHook, scenario_id: str, fire_: dict[str, Any], timeout: float = 5.0) -> str:
    """Block until the fire has started a run; its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = hook.resolve_fire("DEMO", scenario_id, fire_["trigger"]["id"], fire_["runId"])
        if state.status == "run" and state.run:
            return str(state.run["runId"])
        assert state.status == "pending", state
        time.sleep(0.01)
    raise AssertionError("the fire did not start a run")


def wait_finished(hook: DSSHook, scenario_id: str, run_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Block until the run has finished; its details."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        details = hook.get_run_details("DEMO", scenario_id, run_id)
        if (details.get("scenarioRun") or {}).get("result"):
            return details
        time.sleep(0.02)
    raise AssertionError("the run did not finish")
