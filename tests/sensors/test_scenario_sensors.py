"""DSSTriggerFireSensor and DSSScenarioRunSensor in poke, reschedule and deferrable mode, against the
DSS emulator (no Airflow database: ``execute`` is called with a plain dict context)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from unittest import mock

import pytest

from dss_provider.compat import AirflowSensorTimeout, AirflowSkipException, TaskDeferred
from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import (
    DSSConfigurationError,
    DSSNotFoundError,
    DSSScenarioRunFailed,
    DSSTransientError,
    DSSTriggerEventError,
    DSSTriggerFireCancelled,
)
from dss_provider.hooks.dss import DSSHook
from dss_provider.sensors.base import DEFER_TIMEOUT_GRACE
from dss_provider.sensors.scenario_run import DSSScenarioRunSensor
from dss_provider.sensors.trigger_fire import DSSTriggerFireSensor
from dss_provider.triggers import events
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger
from tests.airflow_compat import AirflowRescheduleException, deserialize, serialize
from tests.dss_support import fire, wait_finished, wait_run_id

FAST = {"poke_interval": 0.02, "poll_interval": 0.02, "max_poll_interval": 0.1, "timeout": 10}


def run_sensor(scenario_id: str, run_id: str, **kwargs: Any) -> DSSScenarioRunSensor:
    return DSSScenarioRunSensor(
        **{
            "task_id": "run_done",
            "project_key": "DEMO",
            "scenario_id": scenario_id,
            "run_id": run_id,
            **FAST,
            **kwargs,
        }
    )


def fire_sensor(scenario_id: str, fire_: dict[str, Any], **kwargs: Any) -> DSSTriggerFireSensor:
    return DSSTriggerFireSensor(
        **{
            "task_id": "started",
            "project_key": "DEMO",
            "scenario_id": scenario_id,
            "trigger_id": fire_["trigger"]["id"],
            "trigger_run_id": fire_["runId"],
            **FAST,
            **kwargs,
        }
    )


def reschedule_context() -> dict[str, Any]:
    ti = mock.Mock()
    ti.get_first_reschedule_date.return_value = None
    return {"ti": ti}


def run_trigger_inline(deferred: TaskDeferred) -> dict[str, Any]:
    """What the triggerer does: rebuild the trigger from its serialized form, run it, take the event;
    the payload then goes through serde to the worker."""
    _classpath, kwargs = deferred.trigger.serialize()
    trigger = type(deferred.trigger)(**deserialize(serialize(kwargs)))

    async def first_event() -> dict[str, Any]:
        try:
            async for event in trigger.run():
                return dict(event.payload)
            raise AssertionError("the trigger sent no event")
        finally:
            await trigger.cleanup()

    payload = asyncio.run(asyncio.wait_for(first_event(), 15))
    return dict(deserialize(serialize(payload)))


def defer_and_resume(sensor: Any, context: dict[str, Any] | None = None) -> Any:
    """Deferrable flow: execute (must defer), run the trigger, resume the task like the worker does."""
    context = context if context is not None else {}
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    assert deferred.value.method_name == "execute_complete"
    payload = run_trigger_inline(deferred.value)
    return sensor.resume_execution("execute_complete", {"event": payload}, context)


# --- DSSScenarioRunSensor ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario_id", "outcome"), [("BUILD_SALES", "SUCCESS"), ("QUALITY_CHECKS", "WARNING")]
)
def test_run_sensor_poke_mode_returns_the_run_dict(
    dss_emulator: DSSEmulator, hook: DSSHook, scenario_id: str, outcome: str
) -> None:
    run_id = wait_run_id(hook, scenario_id, fire(hook, scenario_id, {"k": "v"}))

    result = run_sensor(scenario_id, run_id).execute({})

    assert result["run_id"] == run_id and result["outcome"] == outcome
    assert result["trigger_params"] == {"k": "v"}
    assert result["url"].startswith(dss_emulator.url) and result["steps"]
    assert all(step["outcome"] for step in result["steps"])


def test_run_sensor_fails_with_the_first_error_of_a_failed_run(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    run_id = wait_run_id(hook, "NIGHTLY_EXPORT", fire(hook, "NIGHTLY_EXPORT"))

    with pytest.raises(DSSScenarioRunFailed, match="access denied") as failed:
        run_sensor("NIGHTLY_EXPORT", run_id).execute({})

    assert failed.value.outcome == "FAILED"
    assert failed.value.target.run_id == run_id
    assert failed.value.first_error is not None
    assert failed.value.first_error["step_id"] == "build_0_true_d_EXPORT_S3"
    assert failed.value.run is not None and failed.value.run["outcome"] == "FAILED"


def test_run_sensor_honours_success_outcomes(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    run_id = wait_run_id(hook, "QUALITY_CHECKS", fire(hook, "QUALITY_CHECKS"))

    with pytest.raises(DSSScenarioRunFailed, match="outcome WARNING") as failed:
        run_sensor("QUALITY_CHECKS", run_id, success_outcomes=["success"]).execute({})

    assert failed.value.outcome == "WARNING"


@pytest.mark.parametrize("flag", ["soft_fail", "never_fail"])
def test_run_sensor_skips_a_failed_run_with_soft_fail_or_never_fail(
    dss_emulator: DSSEmulator, hook: DSSHook, flag: str
) -> None:
    run_id = wait_run_id(hook, "NIGHTLY_EXPORT", fire(hook, "NIGHTLY_EXPORT"))

    with pytest.raises(AirflowSkipException) as skipped:
        run_sensor("NIGHTLY_EXPORT", run_id, **{flag: True}).execute({})

    assert isinstance(skipped.value.__cause__, DSSScenarioRunFailed)


def test_run_sensor_poke_mode_times_out(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 5.0
    run_id = wait_run_id(hook, "LONG_REFRESH", fire(hook, "LONG_REFRESH"))
    sensor = run_sensor("LONG_REFRESH", run_id, timeout=0.2)

    started = time.monotonic()
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute({})
    assert time.monotonic() - started < 3

    with pytest.raises(AirflowSkipException):
        run_sensor("LONG_REFRESH", run_id, timeout=0.1, soft_fail=True).execute({})


def test_run_sensor_reschedule_mode(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 10.0
    run_id = wait_run_id(hook, "BUILD_SALES", fire(hook, "BUILD_SALES"))
    sensor = run_sensor("BUILD_SALES", run_id, mode="reschedule")

    with pytest.raises(AirflowRescheduleException):
        sensor.execute(reschedule_context())  # 0.6 s run: still going

    wait_finished(hook, "BUILD_SALES", run_id)
    result = run_sensor("BUILD_SALES", run_id, mode="reschedule").execute(reschedule_context())
    assert result["outcome"] == "SUCCESS" and result["run_id"] == run_id


def test_run_sensor_survives_transient_failures_then_gives_up(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    run_id = wait_run_id(hook, "BUILD_SALES", fire(hook, "BUILD_SALES"))
    wait_finished(hook, "BUILD_SALES", run_id)
    # The sync hook makes retries+1 = 6 attempts per poke (connection default): 7 faults fail one poke.
    dss_emulator.faults.add(route="run_details", kind="status", status=503, count=7)

    result = run_sensor("BUILD_SALES", run_id, max_consecutive_failures=2).execute({})
    assert result["outcome"] == "SUCCESS"

    dss_emulator.faults.add(route="run_details", kind="status", status=503)
    with pytest.raises(DSSTransientError, match="HTTP 503"):
        run_sensor("BUILD_SALES", run_id, max_consecutive_failures=2).execute({})


def test_run_sensor_counts_failed_pokes_in_a_row_and_a_good_poke_resets_the_count(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 5.0
    run_id = wait_run_id(hook, "LONG_REFRESH", fire(hook, "LONG_REFRESH"))
    sensor = run_sensor("LONG_REFRESH", run_id, max_consecutive_failures=2)
    failing_poke = {"route": "run_details", "kind": "status", "status": 503, "count": 6}  # 6 attempts

    dss_emulator.faults.add(failing_poke)
    assert sensor.poke({}) is False  # 1 of 2
    assert not sensor.poke({})  # an answer (still running): the count starts over
    dss_emulator.faults.add(failing_poke)
    assert sensor.poke({}) is False  # 1 of 2 again, not 2 of 2
    dss_emulator.faults.add(failing_poke)
    with pytest.raises(DSSTransientError, match="HTTP 503"):
        sensor.poke({})
    hook.abort_run("DEMO", "LONG_REFRESH", run_id)


def test_run_sensor_unknown_run_fails_at_once(dss_emulator: DSSEmulator) -> None:
    with pytest.raises(DSSNotFoundError, match="404"):
        run_sensor("BUILD_SALES", "2020-01-01-00-00-00-000").execute({})
    assert dss_emulator.stats()["requests"] == {"run_details": 1}


def test_run_sensor_deferrable_defers_then_returns_the_same_run_dict(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    dss_emulator.speed = 10.0
    run_id = wait_run_id(hook, "BUILD_SALES", fire(hook, "BUILD_SALES"))
    sensor = run_sensor("BUILD_SALES", run_id, deferrable=True, timeout=30)

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DSSScenarioRunTrigger)
    assert trigger.run_id == run_id and trigger.abort_on_kill is False
    assert trigger.end_time is not None and before + 30 <= trigger.end_time <= time.time() + 30
    assert deferred.value.timeout is not None
    assert deferred.value.timeout.total_seconds() == 30 + DEFER_TIMEOUT_GRACE

    payload = run_trigger_inline(deferred.value)
    result = sensor.resume_execution("execute_complete", {"event": payload}, {})

    assert result["outcome"] == "SUCCESS" and result["run_id"] == run_id
    poked = run_sensor("BUILD_SALES", run_id).execute({})  # the poke path's dict, for comparison
    assert result == poked


def test_run_sensor_deferrable_does_not_defer_for_a_finished_run(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    run_id = wait_run_id(hook, "BUILD_SALES", fire(hook, "BUILD_SALES"))
    wait_finished(hook, "BUILD_SALES", run_id)

    result = run_sensor("BUILD_SALES", run_id, deferrable=True).execute({})

    assert result["outcome"] == "SUCCESS"


def test_run_sensor_deferrable_failed_run(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 10.0
    run_id = wait_run_id(hook, "NIGHTLY_EXPORT", fire(hook, "NIGHTLY_EXPORT"))

    with pytest.raises(DSSScenarioRunFailed, match="access denied") as failed:
        defer_and_resume(run_sensor("NIGHTLY_EXPORT", run_id, deferrable=True))
    assert failed.value.first_error is not None and failed.value.outcome == "FAILED"

    with pytest.raises(AirflowSkipException):
        defer_and_resume(run_sensor("NIGHTLY_EXPORT", run_id, deferrable=True, soft_fail=True))


def test_run_sensor_deferrable_first_poke_failure_honours_never_fail(dss_emulator: DSSEmulator) -> None:
    sensor = run_sensor("BUILD_SALES", "2020-01-01-00-00-00-000", deferrable=True, never_fail=True)

    with pytest.raises(AirflowSkipException) as skipped:
        sensor.execute({})
    assert isinstance(skipped.value.__cause__, DSSNotFoundError)


def test_run_sensor_deferrable_timeout(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 5.0
    run_id = wait_run_id(hook, "LONG_REFRESH", fire(hook, "LONG_REFRESH"))

    with pytest.raises(AirflowSensorTimeout, match="still running at the deadline"):
        defer_and_resume(run_sensor("LONG_REFRESH", run_id, deferrable=True, timeout=0.2))
    with pytest.raises(AirflowSkipException):
        defer_and_resume(run_sensor("LONG_REFRESH", run_id, deferrable=True, timeout=0.2, soft_fail=True))


def test_run_sensor_execute_complete_turns_events_into_exceptions() -> None:
    sensor = run_sensor("BUILD_SALES", "2024-01-01-00-00-00-001")
    ids = {"project_key": "DEMO", "scenario_id": "BUILD_SALES", "run_id": "2024-01-01-00-00-00-001"}

    error = events.make_event(
        events.ERROR, message="gone", error_class="DSSNotFoundError", http_status=404, **ids
    )
    with pytest.raises(DSSNotFoundError, match="gone") as raised:
        sensor.resume_execution("execute_complete", {"event": error}, {})
    assert raised.value.http_status == 404
    with pytest.raises(DSSTriggerEventError, match="without a valid event"):
        sensor.resume_execution("execute_complete", {"event": None}, {})
    with pytest.raises(DSSTriggerEventError, match="unknown status 'run_started'"):
        sensor.resume_execution("execute_complete", {"event": {"status": "run_started"}}, {})
    with pytest.raises(DSSTriggerEventError, match="without run_id, outcome, run"):
        sensor.resume_execution("execute_complete", {"event": {"status": "finished"}}, {})


# --- DSSTriggerFireSensor ----------------------------------------------------------------------


def test_fire_sensor_poke_mode_returns_the_run_id(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    fire_ = fire(hook, "BUILD_SALES")

    run_id = fire_sensor("BUILD_SALES", fire_).execute({})

    assert run_id == wait_run_id(hook, "BUILD_SALES", fire_)


def test_fire_sensor_fails_when_the_fire_is_cancelled(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    fire(hook, "LONG_REFRESH")
    second = fire(hook, "LONG_REFRESH")  # cancelled: the first one's run is going

    with pytest.raises(DSSTriggerFireCancelled, match="cancelled") as cancelled:
        fire_sensor("LONG_REFRESH", second).execute({})
    assert cancelled.value.target.trigger_run_id == second["runId"]

    with pytest.raises(AirflowSkipException):
        fire_sensor("LONG_REFRESH", second, soft_fail=True).execute({})


def test_fire_sensor_reschedule_mode(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 0.5  # the fire starts its run 0.6 s after the request
    fire_ = fire(hook, "BUILD_SALES")

    with pytest.raises(AirflowRescheduleException):
        fire_sensor("BUILD_SALES", fire_, mode="reschedule").execute(reschedule_context())

    run_id = wait_run_id(hook, "BUILD_SALES", fire_)
    assert fire_sensor("BUILD_SALES", fire_, mode="reschedule").execute(reschedule_context()) == run_id


def test_fire_sensor_deferrable(dss_emulator: DSSEmulator, hook: DSSHook) -> None:
    dss_emulator.speed = 0.5
    fire_ = fire(hook, "BUILD_SALES")
    sensor = fire_sensor("BUILD_SALES", fire_, deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert isinstance(deferred.value.trigger, DSSTriggerFireTrigger)
    payload = run_trigger_inline(deferred.value)
    assert payload["status"] == events.RUN_STARTED

    assert sensor.resume_execution("execute_complete", {"event": payload}, {}) == payload["run_id"]
    assert payload["run_id"] == wait_run_id(hook, "BUILD_SALES", fire_)


def test_fire_sensor_deferrable_cancelled_and_timeout_events() -> None:
    sensor = fire_sensor("BUILD_SALES", {"trigger": {"id": "manual"}, "runId": "2024-01-01-00-00-00-000"})
    ids = {"project_key": "DEMO", "scenario_id": "BUILD_SALES", "trigger_id": "manual"}

    with pytest.raises(DSSTriggerFireCancelled, match="no run"):
        sensor.resume_execution(
            "execute_complete", {"event": events.make_event(events.CANCELLED, message="no run", **ids)}, {}
        )
    with pytest.raises(AirflowSensorTimeout, match="late"):
        sensor.resume_execution(
            "execute_complete", {"event": events.make_event(events.TIMEOUT, message="late", **ids)}, {}
        )


# --- construction and templating ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"project_key": ""}, "project_key"),
        ({"scenario_id": "a b"}, "scenario_id"),
        ({"run_id": None}, "run_id"),
        ({"poke_interval": 0}, "poke_interval"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"max_poll_interval": 0}, "max_poll_interval"),
        ({"success_outcomes": ["DONE"]}, "success_outcomes"),
        ({"success_outcomes": []}, "success_outcomes"),
        ({"max_consecutive_failures": 0}, "max_consecutive_failures"),
        ({"dss_conn_id": ""}, "dss_conn_id"),
        ({"deferrable": "yes"}, "deferrable must be True or False, got 'yes'"),
    ],
)
def test_run_sensor_bad_arguments_fail_at_construction(kwargs: dict[str, Any], match: str) -> None:
    base = {
        "task_id": "t",
        "project_key": "DEMO",
        "scenario_id": "BUILD_SALES",
        "run_id": "2024-01-01-00-00-00-001",
    }
    with pytest.raises(DSSConfigurationError, match=match):
        DSSScenarioRunSensor(**{**base, **kwargs})


def test_fire_sensor_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(DSSConfigurationError, match="trigger_run_id"):
        fire_sensor("BUILD_SALES", {"trigger": {"id": "manual"}, "runId": ""})


@pytest.mark.parametrize("setting", ["True", "False"])
def test_deferrable_defaults_to_the_airflow_setting_read_when_the_sensor_is_built(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)  # after the modules were imported
    fire_ = {"trigger": {"id": "manual"}, "runId": "fire-1"}

    sensors = [run_sensor("BUILD_SALES", "2024-01-01-00-00-00-001"), fire_sensor("BUILD_SALES", fire_)]

    assert [s.deferrable for s in sensors] == [setting == "True"] * 2
    assert run_sensor("BUILD_SALES", "r1", deferrable=setting != "True").deferrable is (setting != "True")


def test_templated_ids_are_accepted_then_checked_once_rendered(dss_emulator: DSSEmulator) -> None:
    assert set(DSSScenarioRunSensor.template_fields) >= {
        "project_key",
        "scenario_id",
        "run_id",
        "dss_conn_id",
    }
    assert set(DSSTriggerFireSensor.template_fields) >= {"trigger_id", "trigger_run_id", "dss_conn_id"}
    sensor = run_sensor("BUILD_SALES", "{{ ti_run_id }}")

    sensor.render_template_fields({"ti_run_id": None})  # type: ignore[typeddict-unknown-key]

    assert sensor.run_id == "None"
    with pytest.raises(DSSConfigurationError, match="chain a DSSTriggerFireSensor first"):
        sensor.execute({})
    assert dss_emulator.stats()["requests_total"] == 0


def test_run_sensor_passes_the_recent_duration_to_the_trigger(
    dss_emulator: DSSEmulator, hook: DSSHook
) -> None:
    """Adaptive polling: the deferred wait knows how long this scenario's runs usually take."""
    dss_emulator.speed = 20.0
    first = wait_run_id(hook, "BUILD_SALES", fire(hook, "BUILD_SALES"))
    done = wait_finished(hook, "BUILD_SALES", first)["scenarioRun"]
    expected = (done["end"] - done["start"]) / 1000.0
    run_id = wait_run_id(hook, "BUILD_SALES", fire(hook, "BUILD_SALES"))
    with pytest.raises(TaskDeferred) as deferred:
        run_sensor("BUILD_SALES", run_id, deferrable=True, timeout=30).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DSSScenarioRunTrigger)
    assert trigger.expected_duration == pytest.approx(expected, abs=0.01)
    run_trigger_inline(deferred.value)
