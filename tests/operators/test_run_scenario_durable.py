"""Timeouts, kills and retries: only this task's run is ever aborted, and a try never makes two runs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dss_provider.compat import TaskDeferred
from dss_provider.exceptions import DSSScenarioRunFailed, DSSTimeoutError
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from tests.airflow_compat import needs_task_state_store
from tests.fakes import FakeStateStore, make_context
from tests.operators.conftest import counters, run_deferrable, wait_until

KEY = DSSRunScenarioOperator.external_id_key


def _op(scenario: str = "LONG_REFRESH", **kwargs: Any) -> DSSRunScenarioOperator:
    kwargs.setdefault("poll_interval", 0.05)
    return DSSRunScenarioOperator(task_id="run", project_key="DEMO", scenario_id=scenario, **kwargs)


def _run(dss: Any, scenario: str, run_id: str) -> Any:
    with dss.state.lock:
        dss.state.advance_all()
        return dss.state.catalog.projects["DEMO"].scenarios[scenario].runs[run_id]


def _other_run(hook: Any) -> str:
    """A run of another scenario going on at the same time (it must never be touched)."""
    fire = hook.fire_scenario("DEMO", "NIGHTLY_EXPORT").get_raw()
    return wait_until(
        lambda: hook.resolve_fire("DEMO", "NIGHTLY_EXPORT", "manual", fire["runId"]).run, what="other run"
    )["runId"]


# --- timeout -------------------------------------------------------------------------------------


def test_worker_timeout_aborts_the_run(dss_emulator, context):
    with pytest.raises(DSSTimeoutError, match=r"timeout of 0.3s; this task aborted it") as err:
        _op(timeout=0.3).execute(context)
    run_id = context["ti"].xcoms["run_id"]
    assert err.value.target.run_id == run_id
    assert _run(dss_emulator, "LONG_REFRESH", run_id).outcome == "ABORTED"
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["runs_aborted"] == 1 and stats["runs_started"] == 1


def test_deferred_execution_timeout_is_named_in_the_error(dss_emulator, context):
    from datetime import timedelta

    op = _op(deferrable=True, timeout=60, execution_timeout=timedelta(seconds=0.3))
    with pytest.raises(DSSTimeoutError, match=r"execution_timeout of 0.3s; this task aborted it"):
        run_deferrable(op, context)
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 1


def test_deferred_timeout_aborts_the_run(dss_emulator, context):
    with pytest.raises(DSSTimeoutError, match="aborted") as err:
        run_deferrable(_op(timeout=0.3, deferrable=True), context)
    run_id = context["ti"].xcoms["run_id"]
    assert err.value.target.run_id == run_id
    assert _run(dss_emulator, "LONG_REFRESH", run_id).outcome == "ABORTED"
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 1


def test_timeout_as_timedelta(dss_emulator, context):
    from datetime import timedelta

    op = _op(timeout=timedelta(milliseconds=300))
    assert op.timeout == pytest.approx(0.3)
    with pytest.raises(DSSTimeoutError):
        op.execute(context)


def test_timeout_event_for_a_run_that_just_finished_reports_it(dss_emulator, context, hook):
    """The deadline and the run's end crossed: the finished run is reported, not aborted."""
    result = _op("BUILD_SALES").execute(context)
    op = _op("BUILD_SALES", deferrable=True)
    event = {
        "status": "timeout",
        "project_key": "DEMO",
        "scenario_id": "BUILD_SALES",
        "trigger_id": result["trigger_id"],
        "trigger_run_id": result["trigger_run_id"],
        "run_id": result["run_id"],
        "message": "deadline",
    }
    assert op.execute_complete(make_context(), event=event)["outcome"] == "SUCCESS"
    assert counters(dss_emulator, "BUILD_SALES")["runs_aborted"] == 0


# --- kill ----------------------------------------------------------------------------------------


def test_worker_kill_aborts_only_this_run(dss_emulator, context, hook):
    other = _other_run(hook)
    op = _op()
    killer = threading.Thread(
        target=lambda: (wait_until(lambda: context["ti"].xcoms.get("run_id"), what="run_id"), op.on_kill())
    )
    killer.start()
    with pytest.raises(DSSScenarioRunFailed, match="ABORTED"):
        op.execute(context)
    killer.join(10)
    assert _run(dss_emulator, "LONG_REFRESH", context["ti"].xcoms["run_id"]).outcome == "ABORTED"
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 1
    assert counters(dss_emulator, "NIGHTLY_EXPORT")["runs_aborted"] == 0
    assert _run(dss_emulator, "NIGHTLY_EXPORT", other).aborted_at is None


def test_worker_kill_without_abort_on_kill_leaves_the_run(dss_emulator, context):
    op = _op("BUILD_SALES", abort_on_kill=False)
    killer = threading.Thread(
        target=lambda: (wait_until(lambda: context["ti"].xcoms.get("run_id"), what="run_id"), op.on_kill())
    )
    killer.start()
    assert op.execute(context)["outcome"] == "SUCCESS"
    killer.join(10)
    assert counters(dss_emulator, "BUILD_SALES")["future_aborts_requested"] == 0


def test_kill_before_the_fire_became_a_run_aborts_its_run(dss_emulator, context):
    op = _op()
    state = op.submit_job(context)  # fired; the run starts 6 ms later
    assert state["run_id"] is None
    wait_until(lambda: counters(dss_emulator, "LONG_REFRESH")["runs_started"], what="run start")
    op.on_kill()
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 1


def test_kill_after_the_run_ended_does_nothing(dss_emulator, context):
    op = _op("BUILD_SALES")
    op.execute(context)
    op.on_kill()
    assert counters(dss_emulator, "BUILD_SALES")["future_aborts_requested"] == 0


@pytest.mark.parametrize("abort_on_kill", [True, False])
async def test_deferred_kill_goes_through_the_trigger(dss_emulator, hook, abort_on_kill):
    context = make_context(FakeStateStore())
    other = _other_run(hook)
    op = _op(deferrable=True, abort_on_kill=abort_on_kill)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert trigger.abort_on_kill is abort_on_kill
    waiting = asyncio.ensure_future(trigger.run().__anext__())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await trigger.on_kill()
    waiting.cancel()
    await trigger.cleanup()
    run = _run(dss_emulator, "LONG_REFRESH", context["ti"].xcoms["run_id"])
    assert (run.aborted_at is not None) is abort_on_kill
    assert _run(dss_emulator, "NIGHTLY_EXPORT", other).aborted_at is None
    if not abort_on_kill:
        hook.abort_run("DEMO", "LONG_REFRESH", run.run_id)  # tidy up


# --- retries (ResumableJobMixin) -----------------------------------------------------------------


@needs_task_state_store
def test_retry_after_a_crash_reattaches_to_the_run(dss_emulator):
    """Try 1 fires and is lost (here: it deferred and never came back); try 2 follows the same run."""
    store = FakeStateStore()
    first = make_context(store)
    with pytest.raises(TaskDeferred):
        _op("BUILD_SALES", deferrable=True).execute(first)
    saved = store.get(KEY)
    assert saved["run_id"] == first["ti"].xcoms["run_id"] and saved["trigger_run_id"]

    second = make_context(store)
    result = _op("BUILD_SALES").execute(second)
    assert result["outcome"] == "SUCCESS" and result["run_id"] == saved["run_id"]
    assert second["ti"].xcoms["run_id"] == saved["run_id"]
    assert second["ti"].xcoms["trigger_run_id"] == saved["trigger_run_id"]
    stats = counters(dss_emulator, "BUILD_SALES")
    assert stats["fires_accepted"] == 1 and stats["runs_started"] == 1


@needs_task_state_store
def test_retry_after_a_crash_before_the_run_was_known(dss_emulator, hook):
    """Only the fire was saved (crash between fire and run): the retry resolves it, no second fire."""
    store = FakeStateStore()
    _op("BUILD_SALES").submit_job(make_context(store))
    assert store.get(KEY)["run_id"] is None
    context = make_context(store)
    result = _op("BUILD_SALES").execute(context)
    assert result["outcome"] == "SUCCESS"
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1
    assert store.get(KEY)["run_id"] == result["run_id"]


@needs_task_state_store
def test_retry_after_success_returns_the_run_without_firing(dss_emulator):
    store = FakeStateStore()
    first = _op("BUILD_SALES").execute(make_context(store))
    again = _op("BUILD_SALES").execute(make_context(store))
    assert again == first
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1


def test_retry_after_a_failed_run_fires_a_new_one(dss_emulator):
    store = FakeStateStore()
    with pytest.raises(DSSScenarioRunFailed):
        _op("NIGHTLY_EXPORT").execute(make_context(store))
    first_run = store.get(KEY)["run_id"]
    with pytest.raises(DSSScenarioRunFailed) as err:
        _op("NIGHTLY_EXPORT").execute(make_context(store))
    assert err.value.target.run_id != first_run
    stats = counters(dss_emulator, "NIGHTLY_EXPORT")
    assert stats["fires_accepted"] == 2 and stats["runs_started"] == 2


@needs_task_state_store
def test_retry_reattaches_when_deferred_too(dss_emulator):
    store = FakeStateStore()
    with pytest.raises(TaskDeferred):
        _op("BUILD_SALES", deferrable=True).execute(make_context(store))
    result = run_deferrable(_op("BUILD_SALES", deferrable=True), make_context(store))
    assert result["run_id"] == store.get(KEY)["run_id"] and result["outcome"] == "SUCCESS"
    assert counters(dss_emulator, "BUILD_SALES")["runs_started"] == 1


def test_not_durable_fires_again(dss_emulator):
    store = FakeStateStore()
    _op("BUILD_SALES", durable=False).execute(make_context(store))
    _op("BUILD_SALES", durable=False).execute(make_context(store))
    assert store.data == {}
    assert counters(dss_emulator, "BUILD_SALES")["runs_started"] == 2


def test_without_a_state_store_it_still_runs(dss_emulator):
    result = _op("BUILD_SALES").execute(make_context())
    assert result["outcome"] == "SUCCESS"


@needs_task_state_store
def test_retry_never_fires_again_when_dss_cannot_be_read(dss_emulator, monkeypatch):
    """A 5xx while checking the previous try's run fails the try; it does not fire a second run."""
    from dss_provider.exceptions import DSSTransientError

    for name, value in dss_emulator.airflow_env(retries=0).items():
        monkeypatch.setenv(name, value)
    store = FakeStateStore()
    _op("BUILD_SALES").execute(make_context(store))
    dss_emulator.faults.add(kind="status", route="run_details", status=503)
    with pytest.raises(DSSTransientError):
        _op("BUILD_SALES").execute(make_context(store))
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1


@needs_task_state_store
def test_retry_fires_again_when_dss_forgot_the_run(dss_emulator):
    store = FakeStateStore()
    store.set(KEY, {"trigger_id": "manual", "trigger_run_id": "2001-01-01-00-00-00-000", "run_id": None})
    result = _op("BUILD_SALES").execute(make_context(store))
    assert result["outcome"] == "SUCCESS"
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1
    assert store.get(KEY)["run_id"] == result["run_id"]


# --- trigger events ------------------------------------------------------------------------------


def _event(status: str, **fields: Any) -> dict[str, Any]:
    from dss_provider.triggers.events import make_event

    return make_event(status, project_key="DEMO", scenario_id="LONG_REFRESH", **fields)


@pytest.mark.parametrize("event", [None, {}, {"status": "weird"}, {"status": "finished"}])
def test_execute_complete_refuses_a_bad_event(dss_emulator, event):
    from dss_provider.exceptions import DSSTriggerEventError

    with pytest.raises(DSSTriggerEventError):
        _op(deferrable=True).execute_complete(make_context(), event=event)


def test_execute_complete_error_event_raises_the_named_exception(dss_emulator):
    from dss_provider.exceptions import DSSPermissionError

    event = _event("error", message="the key may not read DEMO", error_class="DSSPermissionError")
    with pytest.raises(DSSPermissionError, match="may not read DEMO"):
        _op(deferrable=True).execute_complete(make_context(), event=event)


def test_execute_complete_cancelled_event_is_never_success(dss_emulator):
    from dss_provider.exceptions import DSSTriggerFireCancelled

    event = _event("cancelled", trigger_id="manual", trigger_run_id="2001-01-01-00-00-00-000")
    with pytest.raises(DSSTriggerFireCancelled):
        _op(deferrable=True).execute_complete(make_context(), event=event)


def test_execute_complete_timeout_before_any_run_aborts_nothing(dss_emulator):
    event = _event("timeout", trigger_id="manual", trigger_run_id="2001-01-01-00-00-00-000")
    with pytest.raises(DSSTimeoutError, match="had not started a run"):
        _op(deferrable=True).execute_complete(make_context(), event=event)
    assert counters(dss_emulator, "LONG_REFRESH").get("future_aborts_requested", 0) == 0


def test_timeout_while_the_fire_is_pending_aborts_the_run_it_starts_late(dss_emulator, hook):
    """A deadline that finds the fire without a run must not leave the late run unwatched."""
    dss_emulator.speed = 0.5  # the fire starts its run 0.6 s after it was accepted
    fire = hook.fire_scenario("DEMO", "LONG_REFRESH").get_raw()
    event = _event("timeout", trigger_id="manual", trigger_run_id=fire["runId"])
    with pytest.raises(DSSTimeoutError, match="this task aborted it") as err:
        _op(deferrable=True).execute_complete(make_context(), event=event)
    run_id = err.value.target.run_id
    assert run_id and _run(dss_emulator, "LONG_REFRESH", run_id).outcome == "ABORTED"
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["runs_started"] == 1 and stats["runs_aborted"] == 1
