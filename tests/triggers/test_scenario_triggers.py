"""DSSTriggerFireTrigger and DSSScenarioRunTrigger against the DSS emulator (real HTTP)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import (
    DSSAuthenticationError,
    DSSConnectionError,
    DSSError,
    DSSNotFoundError,
    DSSTransientError,
)
from dss_provider.hooks import dss_async
from dss_provider.hooks.dss import DSSHook
from dss_provider.triggers import events
from dss_provider.triggers.events import exception_from_event
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger
from tests.airflow_compat import deserialize, import_string, serialize

from .conftest import collect, counters, fire, run_state, wait_run_id

FAST = {"poll_interval": 0.02, "max_poll_interval": 0.1}


def run_trigger(**kwargs: Any) -> DSSScenarioRunTrigger:
    return DSSScenarioRunTrigger(**{"project_key": "DEMO", **FAST, **kwargs})


def run_trigger_of_fire(scenario_id: str, fire_: dict[str, Any], **kwargs: Any) -> DSSScenarioRunTrigger:
    """A run trigger given the fire that starts its run (not the run id)."""
    return run_trigger(
        scenario_id=scenario_id, trigger_id=fire_["trigger"]["id"], trigger_run_id=fire_["runId"], **kwargs
    )


def fire_trigger(scenario_id: str, fire_: dict[str, Any], **kwargs: Any) -> DSSTriggerFireTrigger:
    return DSSTriggerFireTrigger(
        "DEMO", scenario_id, fire_["trigger"]["id"], fire_["runId"], **{**FAST, **kwargs}
    )


def no_secret(dss: DSSEmulator, *values: Any) -> None:
    for value in values:
        assert dss.api_key not in json.dumps(value, default=str)


async def start(trigger: Any) -> asyncio.Task[list[dict[str, Any]]]:
    """Run a trigger in the background (as the triggerer does) until it knows its run id."""

    async def drive() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    task = asyncio.create_task(drive())
    for _ in range(500):
        if trigger._run_id is not None and trigger._hook is not None:
            return task
        assert not task.done(), task.result()
        await asyncio.sleep(0.01)
    raise AssertionError("the trigger never learned its run id")


async def kill(trigger: Any, task: asyncio.Task[Any], *, user_action: bool) -> None:
    """Stop a running trigger the way the triggerer does: cancel, on_kill (user action), cleanup."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    if user_action:
        await trigger.on_kill()
    await trigger.cleanup()


# --- run trigger: outcomes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario_id", "outcome", "steps"),
    [("BUILD_SALES", "SUCCESS", 3), ("QUALITY_CHECKS", "WARNING", 2), ("NIGHTLY_EXPORT", "FAILED", 2)],
)
async def test_run_trigger_reports_each_outcome(
    dss_emulator: DSSEmulator, hook: DSSHook, scenario_id: str, outcome: str, steps: int
) -> None:
    fire_ = fire(hook, scenario_id, {"day": "2024-01-02"})
    run_id = wait_run_id(hook, scenario_id, fire_)
    trigger = run_trigger(scenario_id=scenario_id, run_id=run_id, trigger_params={"day": "2024-01-02"})

    payloads = await collect(trigger)

    assert len(payloads) == 1
    event = events.validate_event(payloads[0], events.RUN_TRIGGER_STATUSES, task="test")
    assert event["status"] == events.FINISHED
    assert event["outcome"] == outcome
    assert event["run_id"] == run_id
    assert (event["trigger_id"], event["trigger_run_id"]) == ("manual", fire_["runId"])
    run = event["run"]
    assert run["run_id"] == run_id and run["outcome"] == outcome
    assert run["trigger_params"] == {"day": "2024-01-02"}
    assert len(run["steps"]) == steps
    assert run["url"].startswith(dss_emulator.url) and run["url"].endswith(run_id)
    assert run["duration"] is not None and run["duration"] >= 0
    if outcome == "FAILED":
        assert event["first_error"]["step_id"] == "build_0_true_d_EXPORT_S3"
        assert "access denied" in event["first_error"]["message"]
        assert "access denied" in event["message"]
    else:
        assert event["first_error"] is None
    assert run_state(dss_emulator, scenario_id, run_id) == (True, outcome)
    no_secret(dss_emulator, event, trigger.serialize())


async def test_run_trigger_reports_aborted_when_the_run_is_aborted_during_the_wait(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 5.0  # LONG_REFRESH: 12 s
    fire_ = fire(hook, "LONG_REFRESH")
    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    trigger = run_trigger(scenario_id="LONG_REFRESH", run_id=run_id)
    task = await start(trigger)
    await asyncio.sleep(0.1)
    assert not task.done()

    assert hook.abort_run("DEMO", "LONG_REFRESH", run_id) is True
    payloads = await asyncio.wait_for(task, 5)
    await trigger.cleanup()

    assert [p["status"] for p in payloads] == [events.FINISHED]
    assert payloads[0]["outcome"] == "ABORTED"
    assert payloads[0]["run"]["steps"][0]["outcome"] == "ABORTED"


async def test_run_trigger_given_a_fire_resolves_it_then_waits_for_the_run(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    fire_ = fire(hook, "BUILD_SALES")
    trigger = run_trigger_of_fire("BUILD_SALES", fire_)

    [event] = await collect(trigger)

    assert event["status"] == events.FINISHED and event["outcome"] == "SUCCESS"
    assert event["run_id"] == wait_run_id(hook, "BUILD_SALES", fire_)
    assert event["trigger_run_id"] == fire_["runId"]
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1


async def test_run_trigger_waits_for_its_fire_on_the_fire_schedule_not_the_run_interval(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    # At speed 1 the fire starts its run 0.3 s after the request, so the trigger's first look misses it.
    # The next look comes on the fire's schedule (at most 1 s, as in the worker), not after the run's
    # 30 s poll_interval.
    dss_emulator.speed = 1.0
    fire_ = fire(hook, "BUILD_SALES")
    trigger = run_trigger_of_fire("BUILD_SALES", fire_, poll_interval=30, max_poll_interval=60)
    began = time.monotonic()

    task = await start(trigger)
    learned = time.monotonic() - began
    await kill(trigger, task, user_action=False)

    assert trigger._run_id == wait_run_id(hook, "BUILD_SALES", fire_)
    assert learned < 3.0, f"the run id took {learned:.1f} s"
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1


# --- fire trigger ------------------------------------------------------------------------------


async def test_fire_trigger_reports_the_run_the_fire_started(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    fire_ = fire(hook, "LONG_REFRESH", {"x": 1})
    trigger = fire_trigger("LONG_REFRESH", fire_)

    [payload] = await collect(trigger)

    event = events.validate_event(payload, events.FIRE_TRIGGER_STATUSES, task="test")
    assert event["status"] == events.RUN_STARTED
    assert event["run_id"] == wait_run_id(hook, "LONG_REFRESH", fire_)
    assert event["run"]["run_id"] == event["run_id"]
    assert event["run"]["trigger_run_id"] == fire_["runId"]
    assert event["run"]["trigger_params"] == {"x": 1}
    assert event["run"]["outcome"] is None  # just started
    no_secret(dss_emulator, event)


async def test_a_cancelled_fire_gives_a_cancelled_event(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    # Two fires in a row: the first starts a run, the second comes due while it runs and is cancelled.
    first = fire(hook, "LONG_REFRESH")
    second = fire(hook, "LONG_REFRESH")

    [fire_event] = await collect(fire_trigger("LONG_REFRESH", second))
    [run_event] = await collect(
        run_trigger(
            scenario_id="LONG_REFRESH", trigger_id=second["trigger"]["id"], trigger_run_id=second["runId"]
        )
    )
    [first_event] = await collect(fire_trigger("LONG_REFRESH", first))

    for event in (fire_event, run_event):
        assert event["status"] == events.CANCELLED
        assert event["run_id"] is None
        assert event["trigger_run_id"] == second["runId"]
        assert event["fire"]["cancelled"] is True
        assert "cancelled" in event["message"]
    assert first_event["status"] == events.RUN_STARTED
    assert counters(dss_emulator, "LONG_REFRESH")["fires_cancelled"] == 1
    hook.abort_run("DEMO", "LONG_REFRESH", first_event["run_id"])


# --- deadlines ---------------------------------------------------------------------------------


async def test_deadline_gives_a_timeout_event_and_leaves_the_run_running(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 5.0
    fire_ = fire(hook, "LONG_REFRESH")
    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    end_time = time.time() + 0.3
    trigger = run_trigger(scenario_id="LONG_REFRESH", run_id=run_id, end_time=end_time)

    started = time.monotonic()
    [event] = await collect(trigger)

    assert event["status"] == events.TIMEOUT
    assert 0.25 <= time.monotonic() - started < 3.0
    assert event["run_id"] == run_id and event["end_time"] == end_time
    assert event["run"]["run_id"] == run_id and event["run"]["outcome"] is None
    assert "did not abort" in event["message"]
    assert run_state(dss_emulator, "LONG_REFRESH", run_id)[0] is False  # still running
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 0
    hook.abort_run("DEMO", "LONG_REFRESH", run_id)


async def test_a_past_deadline_still_polls_once_so_a_finished_run_is_reported(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    fire_ = fire(hook, "BUILD_SALES")
    run_id = wait_run_id(hook, "BUILD_SALES", fire_)
    while not run_state(dss_emulator, "BUILD_SALES", run_id)[0]:
        await asyncio.sleep(0.02)

    [event] = await collect(run_trigger(scenario_id="BUILD_SALES", run_id=run_id, end_time=time.time() - 5))

    assert event["status"] == events.FINISHED and event["outcome"] == "SUCCESS"


async def test_fire_trigger_times_out_while_the_fire_is_pending(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 0.1  # the fire starts its run 3 s after the request
    fire_ = fire(hook, "BUILD_SALES")

    [event] = await collect(fire_trigger("BUILD_SALES", fire_, end_time=time.time() + 0.2))

    assert event["status"] == events.TIMEOUT
    assert event["run_id"] is None and event["trigger_run_id"] == fire_["runId"]
    assert "neither started a run nor was cancelled" in event["message"]


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "status", "status": 503, "retry_after": 0.05},
        {"kind": "status", "status": 429},
        {"kind": "drop"},
        {"kind": "html"},
        {"kind": "truncated"},
        {"kind": "non_json"},
    ],
    ids=lambda r: f"{r['kind']}-{r.get('status', '')}",
)
async def test_transient_faults_do_not_end_the_wait(
    dss_emulator: DSSEmulator, hook: DSSHook, rule: dict[str, Any]
) -> None:
    fire_ = fire(hook, "BUILD_SALES")
    run_id = wait_run_id(hook, "BUILD_SALES", fire_)
    # 5 faults: with one retry per request inside the hook, 2 polls in a row fail completely.
    dss_emulator.faults.add({**rule, "route": "run_details", "count": 5})

    [event] = await collect(run_trigger(scenario_id="BUILD_SALES", run_id=run_id, max_consecutive_failures=4))

    assert event["status"] == events.FINISHED and event["outcome"] == "SUCCESS"
    assert dss_emulator.stats()["faults_total"] == 5


async def test_too_many_consecutive_failures_end_the_wait_with_an_error_event(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 5.0
    fire_ = fire(hook, "LONG_REFRESH")
    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    trigger = run_trigger(scenario_id="LONG_REFRESH", run_id=run_id, max_consecutive_failures=3)
    task = await start(trigger)
    await asyncio.sleep(0.05)  # at least one good poll
    dss_emulator.faults.add(route="run_details", kind="status", status=503)

    payloads = await asyncio.wait_for(task, 10)
    await trigger.cleanup()

    [event] = payloads
    event = events.validate_event(event, events.RUN_TRIGGER_STATUSES, task="test")
    assert event["status"] == events.ERROR
    assert event["error_class"] == "DSSTransientError" and event["http_status"] == 503
    assert event["failures"] == 3
    assert "3 consecutive failed polls" in event["message"]
    assert "HTTP 503" in event["message"]
    assert f"run {run_id} still running" in event["message"]  # the last good DSS answer
    assert event["run"]["run_id"] == run_id
    assert run_state(dss_emulator, "LONG_REFRESH", run_id)[0] is False  # not aborted
    # 3 failed polls, each one request plus one retry inside the hook.
    assert dss_emulator.stats()["faults_total"] == 6


async def test_an_unknown_run_is_a_permanent_error_reported_at_once(dss_emulator: DSSEmulator) -> None:
    [event] = await collect(run_trigger(scenario_id="BUILD_SALES", run_id="2020-01-01-00-00-00-000"))

    assert event["status"] == events.ERROR
    assert event["error_class"] == "DSSNotFoundError" and event["http_status"] == 404
    assert "2020-01-01-00-00-00-000" in event["message"]
    assert dss_emulator.stats()["requests"] == {"run_details": 1}  # no retry, no second poll
    assert isinstance(exception_from_event(event), DSSNotFoundError)


async def test_a_bad_api_key_is_a_permanent_error_that_never_shows_the_key(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_key = "not-the-right-key-0123456789"
    monkeypatch.setenv(
        "AIRFLOW_CONN_DSS_BAD",
        json.dumps({"conn_type": "dataiku_dss", "host": dss_emulator.url, "password": bad_key}),
    )
    trigger = run_trigger(scenario_id="BUILD_SALES", run_id="2020-01-01-00-00-00-000", dss_conn_id="dss_bad")

    [event] = await collect(trigger)

    assert event["status"] == events.ERROR
    assert event["error_class"] == "DSSAuthenticationError" and event["http_status"] == 401
    assert "API key" in event["message"]
    assert bad_key not in json.dumps(event) and bad_key not in json.dumps(trigger.serialize())
    assert isinstance(exception_from_event(event), DSSAuthenticationError)


async def test_a_missing_connection_is_an_error_event(dss_emulator: DSSEmulator) -> None:
    [event] = await collect(
        fire_trigger("BUILD_SALES", {"trigger": {"id": "manual"}, "runId": "x"}, dss_conn_id="nope")
    )

    assert event["status"] == events.ERROR
    assert event["error_class"] == "DSSConfigurationError"
    assert "'nope'" in event["message"]


async def test_an_unexpected_exception_becomes_an_error_event_with_its_text(
    dss_emulator: DSSEmulator, hook: DSSHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: Any, request: Any) -> Any:
        raise KeyError("scenarioRun is missing")

    monkeypatch.setattr(dss_async.DSSAsyncHook, "execute", broken)

    [event] = await collect(run_trigger(scenario_id="BUILD_SALES", run_id="2020-01-01-00-00-00-000"))

    assert event["status"] == events.ERROR
    assert event["error_class"] == "KeyError"
    assert "scenarioRun is missing" in event["message"]
    assert type(exception_from_event(event)) is DSSError


def test_exception_from_event_maps_error_classes() -> None:
    base = {"status": "error", "message": "boom", "project_key": "P", "run_id": "R"}
    transient = exception_from_event({**base, "error_class": "DSSTransientError", "http_status": 503})
    assert isinstance(transient, DSSTransientError) and transient.http_status == 503
    assert transient.target.run_id == "R" and str(transient) == "boom"
    assert isinstance(exception_from_event({**base, "error_class": "DSSTransportError"}), DSSConnectionError)
    assert type(exception_from_event({**base, "error_class": "os"})) is DSSError


# --- serialization and restarts ----------------------------------------------------------------


def test_serialize_round_trips_through_airflow_serde() -> None:
    trigger = DSSScenarioRunTrigger(
        "DEMO",
        "BUILD_SALES",
        run_id="2024-01-01-00-00-00-001",
        trigger_id="manual",
        trigger_run_id="2024-01-01-00-00-00-000",
        dss_conn_id="my_dss",
        poll_interval=2,
        max_poll_interval=30.0,
        expected_duration=120.0,
        end_time=1_900_000_000.5,
        abort_on_kill=True,
        max_consecutive_failures=4,
        trigger_params={"day": "2024-01-01", "n": [1, 2]},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "dss_provider.triggers.scenario_run.DSSScenarioRunTrigger"
    assert kwargs["poll_interval"] == 2.0 and kwargs["abort_on_kill"] is True
    assert json.loads(json.dumps(kwargs)) == kwargs

    restored_kwargs = deserialize(serialize(kwargs))
    assert restored_kwargs == kwargs
    rebuilt = import_string(classpath)(**restored_kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)

    fire_trigger_ = DSSTriggerFireTrigger("DEMO", "BUILD_SALES", "manual", "2024-01-01-00-00-00-000")
    classpath, kwargs = fire_trigger_.serialize()
    assert classpath == "dss_provider.triggers.trigger_fire.DSSTriggerFireTrigger"
    assert import_string(classpath)(**deserialize(serialize(kwargs))).serialize() == (classpath, kwargs)
    assert kwargs["dss_conn_id"] == "dataiku_dss_default"
    assert set(kwargs) == {
        "project_key",
        "scenario_id",
        "trigger_id",
        "trigger_run_id",
        "dss_conn_id",
        "poll_interval",
        "max_poll_interval",
        "end_time",
        "max_consecutive_failures",
    }


async def test_a_restarted_trigger_resumes_the_same_wait_without_side_effects(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 20.0  # LONG_REFRESH: 3 s
    fire_ = fire(hook, "LONG_REFRESH")
    first = run_trigger_of_fire("LONG_REFRESH", fire_, abort_on_kill=True)
    task = await start(first)
    run_id = first._run_id
    # The triggerer stops (restart / redistribution): cancelled without on_kill, then cleanup.
    await kill(first, task, user_action=False)
    assert run_state(dss_emulator, "LONG_REFRESH", run_id)[0] is False

    classpath, kwargs = first.serialize()
    second = import_string(classpath)(**deserialize(serialize(kwargs)))
    [event] = await collect(second, timeout=10)

    assert event["status"] == events.FINISHED and event["run_id"] == run_id
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["fires_accepted"] == 1 and stats["runs_started"] == 1
    assert stats["aborts_requested"] == 0 and stats["future_aborts_requested"] == 0
    assert stats["runs_by_outcome"] == {"SUCCESS": 1}


# --- on_kill and cleanup -----------------------------------------------------------------------


async def test_on_kill_aborts_exactly_this_run_when_abort_on_kill(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 1.0  # PY_SCORING: 2 s
    other_fire = fire(hook, "PY_SCORING")
    other_run = wait_run_id(hook, "PY_SCORING", other_fire)
    fire_ = fire(hook, "LONG_REFRESH")
    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    trigger = run_trigger(scenario_id="LONG_REFRESH", run_id=run_id, abort_on_kill=True)
    task = await start(trigger)

    await kill(trigger, task, user_action=True)

    assert run_state(dss_emulator, "LONG_REFRESH", run_id) == (True, "ABORTED")
    assert run_state(dss_emulator, "PY_SCORING", other_run)[0] is False
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["future_aborts_requested"] == 1 and stats["aborts_requested"] == 0
    assert counters(dss_emulator, "PY_SCORING")["runs_aborted"] == 0
    hook.abort_run("DEMO", "PY_SCORING", other_run)


async def test_on_kill_resolves_the_fire_when_the_run_id_is_not_known_yet(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 10.0
    fire_ = fire(hook, "LONG_REFRESH")
    # A trigger that never ran in this process (e.g. killed right after a triggerer restart).
    trigger = run_trigger_of_fire("LONG_REFRESH", fire_, abort_on_kill=True)

    await trigger.on_kill()
    await trigger.cleanup()

    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    assert trigger._run_id == run_id
    assert run_state(dss_emulator, "LONG_REFRESH", run_id) == (True, "ABORTED")


async def test_on_kill_leaves_the_run_alone_without_abort_on_kill(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 10.0
    fire_ = fire(hook, "LONG_REFRESH")
    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    trigger = run_trigger(scenario_id="LONG_REFRESH", run_id=run_id)
    task = await start(trigger)

    await kill(trigger, task, user_action=True)

    assert run_state(dss_emulator, "LONG_REFRESH", run_id)[0] is False
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 0
    hook.abort_run("DEMO", "LONG_REFRESH", run_id)


async def test_cleanup_never_aborts_and_releases_the_client(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 10.0
    fire_ = fire(hook, "LONG_REFRESH")
    run_id = wait_run_id(hook, "LONG_REFRESH", fire_)
    trigger = run_trigger(scenario_id="LONG_REFRESH", run_id=run_id, abort_on_kill=True)
    task = await start(trigger)
    assert len(dss_async.open_clients()) == 1

    await kill(trigger, task, user_action=False)

    assert not dss_async.open_clients()
    assert trigger._hook is None
    assert run_state(dss_emulator, "LONG_REFRESH", run_id)[0] is False
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 0
    hook.abort_run("DEMO", "LONG_REFRESH", run_id)


async def test_triggers_of_one_connection_share_one_client(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 2.0  # both runs last long enough to be watched together
    runs = {s: wait_run_id(hook, s, fire(hook, s)) for s in ("LONG_REFRESH", "PY_SCORING")}
    first = run_trigger(scenario_id="LONG_REFRESH", run_id=runs["LONG_REFRESH"])
    second = run_trigger(scenario_id="PY_SCORING", run_id=runs["PY_SCORING"])
    task_1, task_2 = await start(first), await start(second)

    assert first._hook is not None and second._hook is not None
    assert first._hook._shared is second._hook._shared
    [(_, shared)] = dss_async.open_clients()
    assert shared.users == 2
    client = shared.client
    for scenario_id, run_id in runs.items():
        hook.abort_run("DEMO", scenario_id, run_id)

    results = await asyncio.wait_for(asyncio.gather(task_1, task_2), 10)
    await first.cleanup()
    await second.cleanup()

    assert [r[0]["outcome"] for r in results] == ["ABORTED", "ABORTED"]
    assert client.is_closed and not dss_async.open_clients()  # the last one closed it


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"project_key": ""}, "project_key"),
        ({"scenario_id": "a/b"}, "scenario_id"),
        ({"run_id": "../x"}, "run_id"),
        ({"run_id": None}, "needs the run_id"),
        ({"run_id": None, "trigger_id": "manual"}, "give both or neither"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"max_poll_interval": -1}, "max_poll_interval"),
        ({"expected_duration": "soon"}, "expected_duration"),
        ({"end_time": "tomorrow"}, "end_time"),
        ({"max_consecutive_failures": 0}, "max_consecutive_failures"),
        ({"abort_on_kill": "yes"}, "abort_on_kill"),
        ({"trigger_params": {"f": object()}}, "trigger_params"),
        ({"dss_conn_id": ""}, "dss_conn_id"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any], match: str) -> None:
    base = {"project_key": "DEMO", "scenario_id": "BUILD_SALES", "run_id": "2024-01-01-00-00-00-001"}
    with pytest.raises(DSSError, match=match):
        DSSScenarioRunTrigger(**{**base, **kwargs})


def test_the_fire_trigger_needs_both_fire_ids() -> None:
    with pytest.raises(DSSError, match="trigger_run_id"):
        DSSTriggerFireTrigger("DEMO", "BUILD_SALES", "manual", None)  # type: ignore[arg-type]
    with pytest.raises(DSSError, match="trigger_id"):
        DSSTriggerFireTrigger("DEMO", "BUILD_SALES", "", "2024-01-01-00-00-00-000")
