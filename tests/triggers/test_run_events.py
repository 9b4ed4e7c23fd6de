"""DSSScenarioRunEventTrigger against the DSS emulator (real HTTP): events, cursor, shared poll, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dss_provider import compat
from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSConfigurationError
from dss_provider.hooks.dss import DSSHook
from dss_provider.triggers import _run_poll
from dss_provider.triggers.run_events import DSSScenarioRunEventTrigger
from tests.airflow_compat import import_string
from tests.dss_support import RUN_KEYS, wait_finished
from tests.fakes import FakeStateStore

from .conftest import fire, wait_run_id

INTERVAL = 0.3


def watcher(**kwargs: Any) -> DSSScenarioRunEventTrigger:
    return DSSScenarioRunEventTrigger(**{"project_key": "DEMO", "poll_interval": INTERVAL, **kwargs})


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


class Watch:
    """A trigger driven in the background as the triggerer drives it; its events and log lines."""

    def __init__(self, trigger: DSSScenarioRunEventTrigger, stream: AsyncIterator[Any] | None = None) -> None:
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self.log = _Lines()
        # The triggerer's log is structlog; read the trigger's lines through a plain logger instead.
        logger = logging.getLogger(f"test_run_events.{id(trigger)}")
        logger.addHandler(self.log)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        trigger._log = logger  # type: ignore[assignment]
        self._stream = stream if stream is not None else trigger.run()
        self.task = asyncio.create_task(self._drive())

    async def _drive(self) -> None:
        async for event in self._stream:
            self.events.append(event.payload)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.trigger.cleanup()

    def errors(self) -> list[str]:
        return [line for line in self.log.lines if line.startswith("ERROR")]


@contextlib.asynccontextmanager
async def watching(trigger: DSSScenarioRunEventTrigger) -> AsyncIterator[Watch]:
    watch = Watch(trigger)
    try:
        yield watch
    finally:
        await watch.stop()


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def polls(dss: DSSEmulator, n: int = 2) -> None:
    """Let the watcher complete ``n`` more polls (a poll every INTERVAL)."""
    await asyncio.sleep(INTERVAL * n + 0.1)


def run_to_end(hook: DSSHook, scenario_id: str) -> str:
    run_id = wait_run_id(hook, scenario_id, fire(hook, scenario_id))
    wait_finished(hook, scenario_id, run_id)
    return run_id


async def arun_to_end(hook: DSSHook, scenario_id: str) -> str:
    return await asyncio.to_thread(run_to_end, hook, scenario_id)


def requests(dss: DSSEmulator) -> dict[str, int]:
    return dict(dss.stats()["requests"])


# --- arguments and identity ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project_key": "DE MO"}, "project_key 'DE MO' is not a valid DSS identifier"),
        ({"scenario_ids": "BUILD_SALES"}, "scenario_ids must be a list of scenario ids or None"),
        ({"scenario_ids": []}, "scenario_ids must name at least one scenario"),
        ({"scenario_ids": ["BUILD SALES"]}, "scenario_ids item 'BUILD SALES' is not a valid DSS identifier"),
        ({"outcomes": ["DONE"]}, "unknown DSS outcome 'DONE'"),
        ({"outcomes": "SUCCESS"}, "outcomes must be a non-empty list"),
        ({"poll_interval": 0}, "poll_interval must be greater than 0"),
        ({"dss_conn_id": ""}, "dss_conn_id must be a non-empty string"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DSSConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        watcher(**kwargs)


def test_serialize_round_trip_and_shared_key() -> None:
    trigger = watcher(scenario_ids=["QUALITY_CHECKS", "BUILD_SALES"], outcomes=["success", "FAILED"])
    path, kwargs = trigger.serialize()
    assert kwargs == {
        "project_key": "DEMO",
        "scenario_ids": ["BUILD_SALES", "QUALITY_CHECKS"],
        "outcomes": ["FAILED", "SUCCESS"],
        "dss_conn_id": "dataiku_dss_default",
        "poll_interval": INTERVAL,
    }
    rebuilt = import_string(path)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (path, kwargs)
    # Same connection, project and interval: one poll, whatever the scenarios and outcomes.
    assert watcher().shared_stream_key() == trigger.shared_stream_key()
    assert watcher(poll_interval=5).shared_stream_key() != trigger.shared_stream_key()
    assert watcher(project_key="OTHER").shared_stream_key() != trigger.shared_stream_key()
    assert watcher(dss_conn_id="other").shared_stream_key() != trigger.shared_stream_key()
    # The cursor does not depend on the poll interval, but on what is watched.
    assert watcher(poll_interval=5).cursor_key == watcher().cursor_key
    assert watcher(scenario_ids=["BUILD_SALES"]).cursor_key != watcher().cursor_key


# --- events -------------------------------------------------------------------------------------


async def test_one_event_per_new_run_no_replay(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    old = await arun_to_end(hook, "BUILD_SALES")
    async with watching(watcher(scenario_ids=["BUILD_SALES"])) as watch:
        await polls(dss_emulator)
        assert watch.events == []  # history is not replayed
        new = await arun_to_end(hook, "BUILD_SALES")
        await until(lambda: watch.events)
        await polls(dss_emulator, 3)
    assert [e["run_id"] for e in watch.events] == [new]
    event = watch.events[0]
    assert new != old
    assert set(event) == RUN_KEYS
    assert event["project_key"] == "DEMO" and event["scenario_id"] == "BUILD_SALES"
    assert event["outcome"] == "SUCCESS" and event["trigger_id"] == "manual"
    assert event["url"].endswith(f"/projects/DEMO/scenarios/BUILD_SALES/runs/list/{new}")
    assert dss_emulator.api_key not in json.dumps(event)


async def test_runs_shorter_than_the_interval_are_all_sent(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    trigger = watcher(scenario_ids=["TESTS_SMOKE"], poll_interval=2.0)
    async with watching(trigger) as watch:
        await until(lambda: requests(dss_emulator).get("last_runs", 0) >= 1)
        # Three runs of 20 ms each, all inside one 2 s interval.
        ids = [await arun_to_end(hook, "TESTS_SMOKE") for _ in range(3)]
        await until(lambda: len(watch.events) == 3, timeout=6)
    assert [e["run_id"] for e in watch.events] == ids


async def test_outcomes_filter_and_every_scenario(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    default = watcher()  # every scenario, SUCCESS and WARNING
    failed = watcher(outcomes=["FAILED"])
    async with watching(default) as ok, watching(failed) as bad:
        await polls(dss_emulator)
        warning = await arun_to_end(hook, "QUALITY_CHECKS")  # WARNING
        failure = await arun_to_end(hook, "NIGHTLY_EXPORT")  # FAILED
        success = await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: len(ok.events) == 2 and len(bad.events) == 1)
        await polls(dss_emulator)
    assert [(e["run_id"], e["outcome"]) for e in ok.events] == [(warning, "WARNING"), (success, "SUCCESS")]
    assert [(e["run_id"], e["outcome"]) for e in bad.events] == [(failure, "FAILED")]


async def test_runs_started_by_a_ui_user_count(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    async with watching(watcher(scenario_ids=["TESTS_SMOKE"])) as watch:
        await polls(dss_emulator)
        fire_ = dss_emulator.run_as_user("DEMO", "TESTS_SMOKE", user="alice")
        await until(lambda: watch.events)
    assert watch.events[0]["trigger_run_id"] == fire_["runId"]


# --- the cursor ---------------------------------------------------------------------------------


async def test_cursor_in_the_asset_state_store_survives_a_restart(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    store = FakeStateStore()
    first = watcher(scenario_ids=["TESTS_SMOKE"])
    first.asset_state_store = store
    async with watching(first) as watch:
        await polls(dss_emulator)
        one = await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: watch.events)
    assert [e["run_id"] for e in watch.events] == [one]
    assert list(store.values) == [first.cursor_key]
    # While no triggerer runs the watcher, 12 runs finish: more than one page of get-last-runs.
    missed = [await arun_to_end(hook, "TESTS_SMOKE") for _ in range(12)]
    second = watcher(scenario_ids=["TESTS_SMOKE"])
    second.asset_state_store = store
    async with watching(second) as watch:
        await until(lambda: len(watch.events) >= 12)
        await polls(dss_emulator)
    assert [e["run_id"] for e in watch.events] == missed  # none replayed, none lost, in order


async def test_without_a_state_store_a_restart_starts_afresh(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    async with watching(watcher(scenario_ids=["TESTS_SMOKE"])) as watch:
        await polls(dss_emulator)
        await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: watch.events)
    await arun_to_end(hook, "TESTS_SMOKE")  # finishes while nobody watches: missed (Airflow < 3.3)
    async with watching(watcher(scenario_ids=["TESTS_SMOKE"])) as watch:
        await polls(dss_emulator, 3)
    assert watch.events == []


# --- the shared poll ----------------------------------------------------------------------------


@pytest.mark.skipif(not compat.HAS_SHARED_TRIGGER_STREAMS, reason="shared trigger streams are Airflow 3.3")
async def test_a_hundred_watchers_share_one_poll(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    from airflow.triggers.shared_stream import SharedStreamManager

    manager = SharedStreamManager()
    triggers = [
        watcher(scenario_ids=["TESTS_SMOKE"] if i % 2 else ["BUILD_SALES", "TESTS_SMOKE"]) for i in range(100)
    ]
    keys = {t.shared_stream_key() for t in triggers}
    assert len(keys) == 1
    key = keys.pop()
    watches = [
        Watch(t, t.filter_shared_stream(manager.subscribe(trigger_id=i, trigger=t, key=key)))
        for i, t in enumerate(triggers)
    ]
    try:
        await polls(dss_emulator)
        before = requests(dss_emulator).get("last_runs", 0)
        t0 = time.monotonic()
        await asyncio.sleep(INTERVAL * 5)
        per_poll = (requests(dss_emulator).get("last_runs", 0) - before) / (
            (time.monotonic() - t0) / INTERVAL
        )
        run_id = await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: all(w.events for w in watches))
        await polls(dss_emulator)
    finally:
        for i, w in enumerate(watches):
            await manager.unsubscribe(i, key)
            await w.stop()
        await manager.stop_all()
    # Two watched scenarios (the union): about two requests per interval, not 150.
    assert 1.5 <= per_poll <= 2.5, per_poll
    assert all([e["run_id"] for e in w.events] == [run_id] for w in watches)
    assert "list_scenarios" not in requests(dss_emulator)


# --- bad input ----------------------------------------------------------------------------------


async def test_unknown_scenario_is_logged_and_backed_off(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    async with watching(watcher(scenario_ids=["NOPE", "TESTS_SMOKE"])) as watch:
        await polls(dss_emulator, 6)
        run_id = await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: watch.events)
        errors = watch.errors()
    assert [e["run_id"] for e in watch.events] == [run_id]  # the other scenario is still watched
    assert errors, watch.log.lines
    assert "Cannot read the runs of DSS scenario DEMO.NOPE" in errors[0]
    assert "HTTP 404" in errors[0] and "Scenario does not exist: DEMO.NOPE" in errors[0]
    # Backoff doubling from the interval: about log2(elapsed / interval) attempts, not one per poll.
    assert len(errors) <= 4, errors


async def test_scenario_deleted_while_watched(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    async with watching(watcher(scenario_ids=["TESTS_SMOKE", "BUILD_SALES"])) as watch:
        await polls(dss_emulator)
        assert watch.errors() == []
        await asyncio.to_thread(hook.get_scenario("DEMO", "TESTS_SMOKE").delete)
        await until(lambda: watch.errors())
        run_id = await arun_to_end(hook, "BUILD_SALES")
        await until(lambda: watch.events)
    assert "DEMO.TESTS_SMOKE" in watch.errors()[0] and "HTTP 404" in watch.errors()[0]
    assert [e["run_id"] for e in watch.events] == [run_id]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown_project", "Project does not exist: NOPE"),
        ("bad_key", "HTTP 401"),
        ("unknown_connection", "isn't defined"),
        ("dss_down", "Could not get an answer from DSS"),
    ],
)
async def test_unreachable_project_is_logged_and_backed_off(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch, setup: str, expected: str
) -> None:
    kwargs: dict[str, Any] = {}
    if setup == "unknown_project":
        kwargs["project_key"] = "NOPE"
    elif setup == "bad_key":
        conn = {"conn_type": "dataiku_dss", "host": dss_emulator.url, "password": "wrong-key"}
        monkeypatch.setenv("AIRFLOW_CONN_DATAIKU_DSS_DEFAULT", json.dumps(conn))
    elif setup == "unknown_connection":
        kwargs["dss_conn_id"] = "no_such_connection"
    else:
        conn = {"conn_type": "dataiku_dss", "host": "http://127.0.0.1:9", "password": "k"}
        monkeypatch.setenv("AIRFLOW_CONN_DATAIKU_DSS_DEFAULT", json.dumps(conn))
    trigger = watcher(**kwargs)
    async with watching(trigger) as watch:
        await asyncio.sleep(INTERVAL * 8)
        errors = watch.errors()
        assert not watch.task.done()  # never crashes (the triggerer would restart it at once)
    assert errors, watch.log.lines
    assert expected in errors[0], errors[0]
    assert "Cannot watch DSS project" in errors[0] and "Next attempt in" in errors[0]
    assert "wrong-key" not in " ".join(watch.log.lines) and dss_emulator.api_key not in " ".join(
        watch.log.lines
    )
    # 2.4 s of intervals of 0.3 s: 0, 0.3, 0.9, 2.1 with doubling backoff; never one per interval.
    assert len(errors) <= 4, errors


def test_backoff_is_bounded() -> None:
    assert _run_poll.backoff(30, 1) == 30
    assert _run_poll.backoff(30, 2) == 60
    assert _run_poll.backoff(30, 20) == _run_poll.MAX_ERROR_BACKOFF
    assert _run_poll.backoff(900, 20) == 900


@pytest.mark.parametrize("kind", ["status", "html", "non_json", "drop"])
async def test_dss_failures_are_logged_then_the_watcher_recovers(
    dss_emulator: DSSEmulator, hook: DSSHook, kind: str
) -> None:
    async with watching(watcher(scenario_ids=["TESTS_SMOKE"])) as watch:
        await polls(dss_emulator)
        rule = {"status": 500} if kind == "status" else {}
        dss_emulator.faults.add(kind=kind, route="last_runs", **rule)
        await until(lambda: watch.errors(), timeout=5)
        dss_emulator.faults.clear()
        run_id = await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: watch.events, timeout=10)
        assert not watch.task.done()
    assert [e["run_id"] for e in watch.events] == [run_id]
    # No answer at all: the project is unreachable; an error answer: that scenario's request failed.
    where = (
        "Cannot watch DSS project DEMO"
        if kind == "drop"
        else "Cannot read the runs of DSS scenario DEMO.TESTS_SMOKE"
    )
    assert where in watch.errors()[0], watch.errors()[0]


async def test_a_scenario_created_after_the_start_is_watched(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    """Watching every scenario: one created later sends its runs (they all finished after the start)."""
    async with watching(watcher()) as watch:
        await polls(dss_emulator)
        definition = {"params": {"steps": [{"id": "s", "type": "custom_python", "params": {}}]}}
        created = await asyncio.to_thread(hook.create_scenario, "DEMO", "Fresh one", "step_based", definition)
        await polls(dss_emulator)
        run_id = await arun_to_end(hook, created.id)
        await until(lambda: watch.events)
        await polls(dss_emulator)
    assert [(e["scenario_id"], e["run_id"]) for e in watch.events] == [(created.id, run_id)]


class FakeAccessors:
    """A trigger watching two assets: Airflow's AssetStateStoreAccessors holds one accessor per asset."""

    def __init__(self) -> None:
        self._by_name = {"a": FakeStateStore(), "b": FakeStateStore()}
        self._by_uri: dict[str, FakeStateStore] = {}


async def test_a_trigger_shared_by_two_assets_keeps_its_cursor_in_both(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    store = FakeAccessors()
    first = watcher(scenario_ids=["TESTS_SMOKE"])
    first.asset_state_store = store
    async with watching(first) as watch:
        await polls(dss_emulator)
        await arun_to_end(hook, "TESTS_SMOKE")
        await until(lambda: watch.events)
    a, b = store._by_name["a"].values, store._by_name["b"].values
    assert a == b and list(a) == [first.cursor_key]
    # One asset's copy is older (its write was lost): the newer position wins, nothing is resent.
    store._by_name["b"].values = {}
    later = await arun_to_end(hook, "TESTS_SMOKE")
    second = watcher(scenario_ids=["TESTS_SMOKE"])
    second.asset_state_store = store
    async with watching(second) as watch:
        await until(lambda: watch.events)
        await polls(dss_emulator)
    assert [e["run_id"] for e in watch.events] == [later]
