"""A run request fires exactly one run, whatever happens to the request or its answer."""

from __future__ import annotations

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSTransientError
from dss_provider.hooks.dss import DSSHook

FAST = {"timeout": 20, "poll_interval": 0.02}


def fires_and_runs(dss_emulator: DSSEmulator, scenario: str = "BUILD_SALES") -> tuple[int, int]:
    counters = dss_emulator.stats()["scenarios"].get(f"DEMO.{scenario}", {})
    return counters.get("fires_accepted", 0), counters.get("runs_started", 0)


def test_answer_lost_after_dss_accepted_the_fire(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "drop_after", "count": 1})
    scenario = hook.get_scenario("DEMO", "BUILD_SALES")
    fire = scenario.run({"batch": 7})
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None
    assert fire.get_raw()["params"] == {"batch": 7}
    assert run.get_info()["trigger"]["runId"] == fire.trigger_run_id
    assert dss_emulator.stats()["requests"]["run"] == 1  # not sent again
    assert fires_and_runs(dss_emulator) == (1, 1)
    run.wait_for_completion(**FAST)
    assert [r.id for r in scenario.get_last_runs()] == [run.id]


def test_connection_dropped_before_processing_is_resent_once(
    hook: DSSHook, dss_emulator: DSSEmulator
) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "drop", "count": 1})
    fire = hook.get_scenario("DEMO", "BUILD_SALES").run()
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None and run.get_info()["trigger"]["runId"] == fire.trigger_run_id
    assert dss_emulator.stats()["requests"]["run"] == 2
    assert fires_and_runs(dss_emulator) == (1, 1)


@pytest.mark.parametrize("status", [503, 429])
def test_not_processed_statuses_are_retried(hook: DSSHook, dss_emulator: DSSEmulator, status: int) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "status", "status": status, "count": 2})
    fire = hook.get_scenario("DEMO", "BUILD_SALES").run()
    assert fire.wait_for_scenario_run(**FAST) is not None
    assert dss_emulator.stats()["requests"]["run"] == 3
    assert fires_and_runs(dss_emulator) == (1, 1)


def test_ambiguous_502_is_reconciled_before_firing_again(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "status", "status": 502, "count": 1})
    fire = hook.get_scenario("DEMO", "BUILD_SALES").run()
    assert fire.wait_for_scenario_run(**FAST) is not None
    requests = dss_emulator.stats()["requests"]
    assert requests["run"] == 2
    assert requests["last_runs"] >= 1  # it looked for a run before firing again
    assert fires_and_runs(dss_emulator) == (1, 1)


def test_truncated_answer_of_an_accepted_fire(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "truncated", "count": 1})
    fire = hook.get_scenario("DEMO", "BUILD_SALES").run()
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None
    assert dss_emulator.stats()["requests"]["run"] == 1
    assert fires_and_runs(dss_emulator) == (1, 1)


def test_exhausted_not_processed_fire_raises_without_a_run(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "status", "status": 503})
    with pytest.raises(DSSTransientError, match="failed with HTTP 503") as info:
        hook.get_scenario("DEMO", "BUILD_SALES").run()
    assert "/run for project DEMO, scenario BUILD_SALES" in str(info.value)
    assert dss_emulator.stats()["requests"]["run"] == 3
    assert fires_and_runs(dss_emulator) == (0, 0)


def test_every_ambiguous_attempt_failing_raises_a_clear_error(
    hook: DSSHook, dss_emulator: DSSEmulator
) -> None:
    dss_emulator.faults.add({"route": "run", "kind": "status", "status": 500})
    with pytest.raises(Exception, match="Could not fire project DEMO, scenario BUILD_SALES") as info:
        hook.get_scenario("DEMO", "BUILD_SALES").run()
    assert dss_emulator.api_key not in str(info.value)
    assert fires_and_runs(dss_emulator) == (0, 0)


def test_two_identical_fires_do_not_reconcile_to_an_older_run(
    hook: DSSHook, dss_emulator: DSSEmulator
) -> None:
    dss_emulator.speed = 2  # the new fire becomes a run 0.15 s after it was accepted
    scenario = hook.get_scenario("DEMO", "TESTS_SMOKE")
    first = scenario.run_and_wait(**FAST)
    assert first is not None
    dss_emulator.faults.add({"route": "run", "kind": "drop_after", "count": 1})
    fire = scenario.run()
    second = fire.wait_for_scenario_run(**FAST)
    assert second is not None and second.id != first.id
    assert fire.trigger_run_id != first.get_info()["trigger"]["runId"]
    assert fires_and_runs(dss_emulator, "TESTS_SMOKE") == (2, 2)
