"""Worker-side waits ride out transient failures within a budget, like the triggers."""

from __future__ import annotations

import logging

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSNotFoundError, DSSTimeoutError, DSSTransientError
from dss_provider.hooks import waiting
from dss_provider.hooks.dss import DSSHook
from dss_provider.protocol.polling import PollSchedule

FAST = PollSchedule(poll_interval=0.05, max_interval=0.2)


def _start(hook: DSSHook, scenario: str = "BUILD_SALES") -> str:
    fire = hook.fire_scenario("DEMO", scenario)
    state = waiting.wait_for_fire(hook, "DEMO", scenario, fire.trigger_id, fire.trigger_run_id, timeout=10)
    assert state.run is not None
    return str(state.run["runId"])


def test_failures_within_the_budget_do_not_end_the_wait(dss_emulator: DSSEmulator) -> None:
    hook = DSSHook(retries=0)
    run_id = _start(hook)
    dss_emulator.faults.add({"route": "run_details", "kind": "status", "status": 503, "count": 3})
    details = waiting.wait_for_run(
        hook, "DEMO", "BUILD_SALES", run_id, timeout=30, max_consecutive_failures=4, schedule=FAST
    )
    assert details["scenarioRun"]["result"]["outcome"] == "SUCCESS"
    assert dss_emulator.stats()["faults"].get("status") == 3


def test_a_failed_poll_is_logged_with_what_was_polled_and_the_budget(
    dss_emulator: DSSEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    hook = DSSHook(retries=0)
    run_id = _start(hook)
    dss_emulator.faults.add({"route": "run_details", "kind": "status", "status": 503, "count": 1})
    with caplog.at_level(logging.WARNING, logger="dss_provider.hooks.waiting"):
        waiting.wait_for_run(
            hook, "DEMO", "BUILD_SALES", run_id, timeout=30, max_consecutive_failures=4, schedule=FAST
        )
    [warning] = [r.getMessage() for r in caplog.records if "in a row" in r.getMessage()]
    assert f"run {run_id}" in warning and "(1/4 in a row)" in warning and "HTTP 503" in warning


def test_failures_past_the_budget_end_the_wait_with_the_last_answer(dss_emulator: DSSEmulator) -> None:
    hook = DSSHook(retries=0)
    run_id = _start(hook, "LONG_REFRESH")
    dss_emulator.faults.add({"route": "run_details", "kind": "status", "status": 502})
    with pytest.raises(DSSTransientError, match=f"run {run_id}.*HTTP 502"):
        waiting.wait_for_run(
            hook, "DEMO", "LONG_REFRESH", run_id, timeout=30, max_consecutive_failures=3, schedule=FAST
        )
    assert dss_emulator.stats()["faults"]["status"] == 3


def test_permanent_errors_end_the_wait_at_once(dss_emulator: DSSEmulator) -> None:
    hook = DSSHook(retries=0)
    with pytest.raises(DSSNotFoundError, match="run 2020-01-01-00-00-00-000"):
        waiting.wait_for_run(hook, "DEMO", "BUILD_SALES", "2020-01-01-00-00-00-000", timeout=30)
    assert dss_emulator.stats()["requests"]["run_details"] == 1


def test_failures_never_outlast_the_deadline(dss_emulator: DSSEmulator) -> None:
    hook = DSSHook(retries=0)
    run_id = _start(hook, "LONG_REFRESH")
    dss_emulator.faults.add({"route": "run_details", "kind": "status", "status": 503})
    with pytest.raises((DSSTransientError, DSSTimeoutError)):
        waiting.wait_for_run(hook, "DEMO", "LONG_REFRESH", run_id, timeout=0.5, max_consecutive_failures=1000)
