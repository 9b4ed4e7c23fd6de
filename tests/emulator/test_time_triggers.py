"""Runs started by DSS itself: time triggers on the emulator's clock, and runs started from the UI."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from dss_provider.emulator.engine import Engine, ManualClock
from dss_provider.emulator.seed import build_catalog
from dss_provider.emulator.server import DSSEmulator
from dss_provider.emulator.state import ApiKey, NotFound
from dss_provider.emulator.views import render_run
from dss_provider.hooks.dss import DSSHook

# 1_700_000_000 is 22:13:20 UTC: the next whole minute is 40 s away.
T0 = 1_700_000_000.0
NEXT_MINUTE = T0 + 40


def seed(triggers: list[dict[str, Any]], *, active: bool = True, duration: float = 1.0) -> dict[str, Any]:
    steps = [{"id": "s", "type": "custom_python", "params": {"emulator": {"duration": duration}}}]
    scenario = {"id": "S", "active": active, "triggers": triggers, "params": {"steps": steps}}
    return {"projects": [{"key": "P", "scenarios": [scenario]}]}


MINUTELY = {"id": "every_minute", "type": "temporal", "name": "Every minute", "active": True,
            "params": {"frequency": "Minutely", "repeatFrequency": 1}}  # fmt: skip


def engine(clock: ManualClock, data: dict[str, Any], *, on: bool = True) -> tuple[Engine, ApiKey]:
    eng = Engine(clock=clock)
    eng.replace_catalog(build_catalog(data, "KEY", int(clock.t * 1000)))
    eng.time_triggers = on
    return eng, eng.catalog.api_keys["KEY"]


def finished_runs(eng: Engine, key: ApiKey) -> list[dict[str, Any]]:
    sc = eng.scenario(key, "P", "S")
    return [render_run(r) for r in sc.runs.values() if r.finished]


def test_off_by_default_time_triggers_only_feed_next_run() -> None:
    clock = ManualClock(T0)
    eng, key = engine(clock, seed([MINUTELY]), on=False)
    assert not Engine().time_triggers
    clock.tick(600)
    assert finished_runs(eng, key) == []
    assert eng.stats()["scenarios"] == {}


def test_minutely_trigger_fires_on_the_emulator_clock() -> None:
    clock = ManualClock(T0)
    eng, key = engine(clock, seed([MINUTELY]))
    clock.tick(39)
    assert finished_runs(eng, key) == []
    clock.tick(1 + 0.3 + 1 + 0.01)  # occurrence at 22:14:00, start 0.3 s later, 1 s step
    runs = finished_runs(eng, key)
    assert len(runs) == 1
    run = runs[0]
    assert run["start"] == round((NEXT_MINUTE + 0.3) * 1000)
    assert run["result"]["outcome"] == "SUCCESS"
    fire = run["trigger"]
    assert fire["trigger"] == {"id": "every_minute", "type": "temporal", "name": "Every minute",
                               "delay": 0, "active": True}  # fmt: skip
    assert fire["timestamp"] == round(NEXT_MINUTE * 1000)
    assert fire["triggerAuthCtx"]["realUserLogin"] == "admin"
    assert fire["triggerAuthCtx"]["authSource"] == "SCENARIO_TRIGGER"
    # Nobody looks for ten minutes: the lazy timeline still materialises every occurrence.
    clock.tick(600)
    assert len(finished_runs(eng, key)) == 11
    counters = eng.stats()["scenarios"]["P.S"]
    assert counters["time_trigger_fires"] == 11 and counters["runs_started"] == 11


def test_occurrences_during_a_run_are_skipped_and_delay_is_applied() -> None:
    clock = ManualClock(T0)
    trigger = {**MINUTELY, "delay": 5}
    eng, key = engine(clock, seed([trigger], duration=90))  # each run spans the next occurrence
    clock.tick(40 + 300)
    runs = finished_runs(eng, key)
    assert [r["start"] for r in runs[:2]] == [
        round((NEXT_MINUTE + 5.3) * 1000),
        round((NEXT_MINUTE + 120 + 5.3) * 1000),
    ]
    assert eng.stats()["scenarios"]["P.S"]["time_triggers_skipped"] >= 2


@pytest.mark.parametrize(("active", "trigger_active"), [(False, True), (True, False)])
def test_inactive_scenarios_and_triggers_do_not_fire(active: bool, trigger_active: bool) -> None:
    clock = ManualClock(T0)
    eng, key = engine(clock, seed([{**MINUTELY, "active": trigger_active}], active=active))
    clock.tick(600)
    assert finished_runs(eng, key) == []


def test_counted_from_when_switched_on() -> None:
    clock = ManualClock(T0)
    eng, key = engine(clock, seed([MINUTELY]), on=False)
    clock.tick(3600)
    eng.time_triggers = True  # the hour before is not replayed
    clock.tick(61)
    assert len(finished_runs(eng, key)) == 1


def test_triggers_written_by_add_periodic_trigger_fire_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock(T0)
    with DSSEmulator(clock=clock, time_triggers=True) as dss:
        monkeypatch.setenv("AIRFLOW_CONN_X", dss.connection_json())
        hook = DSSHook(dss_conn_id="x", retries=0)
        try:
            settings = hook.get_scenario("DEMO", "TESTS_SMOKE").get_settings()
            settings.active = True
            settings.add_periodic_trigger(every_minutes=1)
            settings.save()
            clock.tick(41 + 1.5)
            runs = hook.get_scenario("DEMO", "TESTS_SMOKE").get_last_runs(only_finished_runs=True)
            assert len(runs) == 1
            assert runs[0].get_info()["trigger"]["trigger"]["type"] == "temporal"
            assert dss.stats()["scenarios"]["DEMO.TESTS_SMOKE"]["time_trigger_fires"] == 1
        finally:
            hook.close()


def test_seed_flag_and_reset() -> None:
    clock = ManualClock(T0)
    data = {**seed([MINUTELY]), "time_triggers": True}
    with DSSEmulator(seed=data, clock=clock) as dss:
        assert dss.time_triggers
        clock.tick(61)
        assert dss.stats()["scenarios"]["P.S"]["runs_started"] == 1
        dss.reset()  # counted again from the reset
        assert dss.time_triggers
        clock.tick(1)
        assert dss.stats()["scenarios"] == {}
    assert not DSSEmulator(seed=data, time_triggers=False).time_triggers


# --- admin routes -------------------------------------------------------------------------------


def admin(dss: DSSEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{dss.url}/__emulator__/{path}",
        data=data,
        method=method,
        headers={"X-DSS-Emulator-Admin-Key": dss.admin_key},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_admin_time_triggers_route(dss_emulator: DSSEmulator) -> None:
    assert admin(dss_emulator, "GET", "time-triggers") == (200, {"enabled": False})
    assert admin(dss_emulator, "POST", "time-triggers", {"enabled": True}) == (200, {"enabled": True})
    assert dss_emulator.time_triggers
    status, body = admin(dss_emulator, "POST", "time-triggers", {"enabled": "yes"})
    assert status == 400 and "'enabled' must be true or false" in body["message"]
    dss_emulator.reset()
    assert not dss_emulator.time_triggers


def test_admin_ui_run_starts_a_run_as_that_user(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DATAIKU_DSS_DEFAULT", dss_emulator.connection_json())
    status, fire = admin(dss_emulator, "POST", "ui-run", {"project_key": "DEMO", "scenario_id": "TESTS_SMOKE",
                                                  "user": "alice", "params": {"why": "demo"}})  # fmt: skip
    assert status == 200
    assert fire["trigger"]["type"] == "manual" and fire["params"] == {"why": "demo"}
    assert fire["triggerAuthCtx"]["realUserLogin"] == "alice"
    assert fire["triggerAuthCtx"]["authSource"] == "USER_FROM_UI"
    assert "apiKey" not in fire["triggerAuthCtx"]
    hook = DSSHook(retries=0)
    try:
        state = hook.resolve_fire("DEMO", "TESTS_SMOKE", "manual", fire["runId"])
        for _ in range(200):
            if state.status != "pending":
                break
            state = hook.resolve_fire("DEMO", "TESTS_SMOKE", "manual", fire["runId"])
        assert state.status == "run"
        assert state.run["runAsUser"] == "alice"
    finally:
        hook.close()
    assert dss_emulator.stats()["scenarios"]["DEMO.TESTS_SMOKE"]["ui_fires"] == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"project_key": "DEMO", "scenario_id": "NOPE", "user": "alice"}, 404, "Scenario does not exist"),
        ({"project_key": "DEMO", "scenario_id": "TESTS_SMOKE", "user": "a b"}, 400, "Illegal user login"),
        ({"project_key": "DEMO"}, 400, "project_key, scenario_id and user must be strings"),
        ([1], 400, "The body must be an object"),
    ],
)
def test_admin_ui_run_bad_input(dss_emulator: DSSEmulator, body: Any, status: int, message: str) -> None:
    got, answer = admin(dss_emulator, "POST", "ui-run", body)
    assert got == status and message in answer["detailedMessage"] + answer["message"]


def test_run_as_user_in_process_unknown_scenario(dss_emulator: DSSEmulator) -> None:
    with pytest.raises(NotFound, match=r"Scenario does not exist: DEMO\.NOPE"):
        dss_emulator.run_as_user("DEMO", "NOPE")


def test_cli_time_triggers_option() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dss_provider.emulator", "--time-triggers", "--admin-key", "adm"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        req = urllib.request.Request(
            f"{url}/__emulator__/time-triggers", headers={"X-DSS-Emulator-Admin-Key": "adm"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read()) == {"enabled": True}
    finally:
        proc.terminate()
        proc.wait(10)
