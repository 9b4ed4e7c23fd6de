"""Run triggers of one project share one scenario-list poll (``triggers/project_watch.py``)."""

from __future__ import annotations

import asyncio

from dss_provider.emulator.server import DSSEmulator
from dss_provider.hooks.dss import DSSHook
from dss_provider.protocol.run_ref import RunRef
from dss_provider.triggers import events, project_watch
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger

from .conftest import collect, fire, wait_run_id

SCENARIOS = ("LONG_REFRESH", "PY_SCORING")


async def test_triggers_of_one_project_share_the_scenario_list_poll(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 10.0
    runs = {s: wait_run_id(hook, s, fire(hook, s)) for s in SCENARIOS}
    before = dict(dss_emulator.stats()["requests"])
    triggers = [
        DSSScenarioRunTrigger("DEMO", s, run_id=r, poll_interval=0.1, max_poll_interval=30)
        for s, r in runs.items()
    ]
    results = await asyncio.wait_for(asyncio.gather(*(collect(t, 60) for t in triggers)), 70)

    for (scenario, run_id), [event] in zip(runs.items(), results, strict=True):
        assert event["status"] == events.FINISHED and event["outcome"] == "SUCCESS", event
        assert (event["scenario_id"], event["run_id"]) == (scenario, run_id)
    after = dss_emulator.stats()["requests"]
    lists = after.get("list_scenarios", 0) - before.get("list_scenarios", 0)
    assert lists >= 1, after  # the shared poll answered them while both waited
    assert project_watch._WATCHES.get(asyncio.get_running_loop(), {}) == {}  # the last one dropped it


async def test_a_lone_trigger_polls_its_run_and_never_the_list(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 5.0
    run_id = wait_run_id(hook, "LONG_REFRESH", fire(hook, "LONG_REFRESH"))
    trigger = DSSScenarioRunTrigger(
        "DEMO", "LONG_REFRESH", run_id=run_id, poll_interval=0.1, max_poll_interval=0.2
    )
    [event] = await collect(trigger, 60)
    assert event["status"] == events.FINISHED
    assert "list_scenarios" not in dss_emulator.stats()["requests"]


def test_run_ref_keeps_the_stored_keys() -> None:
    stored = {"trigger_id": "manual", "trigger_run_id": "2026-01-01-00-00-00-000", "run_id": None}
    ref = RunRef.parse(stored)  # an entry written before "attached" existed
    assert ref == RunRef("manual", "2026-01-01-00-00-00-000", None, False)
    assert ref.with_run("R1").as_dict() == {**stored, "run_id": "R1", "attached": False}
    assert RunRef.parse({"trigger_id": None, "run_id": ""}) is None
    assert RunRef.parse("not an entry") is None
    run = {"runId": "R2", "trigger": {"runId": "F2", "trigger": {"id": "manual"}}}
    assert RunRef.from_run(run, attached=True) == RunRef("manual", "F2", "R2", True)
