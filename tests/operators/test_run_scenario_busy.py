"""A busy scenario: DSS cancels the fire, and ``if_already_running`` decides (never a success, never a
crash, never an abort of a run this task did not start)."""

from __future__ import annotations

from typing import Any

import pytest

from dss_provider.exceptions import DSSConfigurationError, DSSTimeoutError, DSSTriggerFireCancelled
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from tests.operators.conftest import counters, run_deferrable, wait_until


def _op(**kwargs: Any) -> DSSRunScenarioOperator:
    kwargs.setdefault("poll_interval", 0.05)
    return DSSRunScenarioOperator(task_id="run", project_key="DEMO", scenario_id="LONG_REFRESH", **kwargs)


def _someone_elses_run(hook: Any) -> dict[str, Any]:
    """Start LONG_REFRESH outside the task (1.2 s at speed 50) and return its run."""
    fire = hook.fire_scenario("DEMO", "LONG_REFRESH", {"by": "someone else"}).get_raw()

    def started() -> Any:
        state = hook.resolve_fire("DEMO", "LONG_REFRESH", fire["trigger"]["id"], fire["runId"])
        return state.run if state.status == "run" else None

    return wait_until(started, what="the other run to start")


def _outcome(dss: Any, run_id: str) -> str | None:
    with dss.state.lock:
        dss.state.advance_all()
        run = dss.state.catalog.projects["DEMO"].scenarios["LONG_REFRESH"].runs[run_id]
        return run.outcome if run.finished else None


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_fail(dss_emulator, context, hook, deferrable):
    other = _someone_elses_run(hook)
    op = _op(if_already_running="fail", deferrable=deferrable)
    with pytest.raises(DSSTriggerFireCancelled, match="already running") as err:
        op.execute(context)
    assert err.value.target.trigger_run_id == context["ti"].xcoms["trigger_run_id"]
    assert "run_id" not in context["ti"].xcoms
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["fires_cancelled"] == 1 and stats["runs_started"] == 1 and stats["runs_aborted"] == 0
    assert _outcome(dss_emulator, other["runId"]) is None  # still running, untouched


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_attach_follows_the_running_run(dss_emulator, context, hook, deferrable):
    other = _someone_elses_run(hook)
    op = _op(if_already_running="attach", deferrable=deferrable)
    result = run_deferrable(op, context) if deferrable else op.execute(context)
    assert result["run_id"] == other["runId"]
    assert result["outcome"] == "SUCCESS"
    # The ids describe the run followed (its own fire and params), consistently in XCom and the result.
    assert result["trigger_run_id"] == other["trigger"]["runId"]
    assert result["trigger_params"] == {"by": "someone else"}
    xcoms = context["ti"].xcoms
    assert xcoms["run_id"] == other["runId"] and xcoms["trigger_run_id"] == other["trigger"]["runId"]
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["fires_accepted"] == 2 and stats["fires_cancelled"] == 1 and stats["runs_started"] == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_wait_then_fire(dss_emulator, context, hook, deferrable):
    other = _someone_elses_run(hook)
    op = _op(if_already_running="wait", deferrable=deferrable, trigger_params={"by": "task"})
    result = run_deferrable(op, context) if deferrable else op.execute(context)
    assert result["outcome"] == "SUCCESS"
    assert result["run_id"] != other["runId"]
    assert result["trigger_params"] == {"by": "task"}
    assert _outcome(dss_emulator, other["runId"]) == "SUCCESS"  # waited for, not aborted
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["fires_cancelled"] == 1 and stats["runs_started"] == 2 and stats["runs_aborted"] == 0
    assert context["ti"].xcoms["run_id"] == result["run_id"]


def test_wait_times_out_without_aborting_the_other_run(dss_emulator, context, hook):
    other = _someone_elses_run(hook)
    with pytest.raises(DSSTimeoutError, match="did not abort that run"):
        _op(if_already_running="wait", timeout=0.3).execute(context)
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["runs_started"] == 1 and stats["runs_aborted"] == 0 and stats["aborts_requested"] == 0
    assert _outcome(dss_emulator, other["runId"]) is None


def test_wait_deferred_times_out_without_aborting(dss_emulator, context, hook):
    _someone_elses_run(hook)
    with pytest.raises(DSSTimeoutError, match="fired nothing"):
        run_deferrable(_op(if_already_running="wait", timeout=0.3, deferrable=True), context)
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["runs_started"] == 1 and stats["runs_aborted"] == 0


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_attach_timeout_never_aborts_the_other_run(dss_emulator, context, hook, deferrable):
    other = _someone_elses_run(hook)
    op = _op(if_already_running="attach", timeout=0.3, deferrable=deferrable)
    with pytest.raises(DSSTimeoutError, match="not aborted"):
        run_deferrable(op, context) if deferrable else op.execute(context)
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["runs_aborted"] == 0 and stats["aborts_requested"] == 0
    assert stats["future_aborts_requested"] == 0
    assert _outcome(dss_emulator, other["runId"]) is None


def test_attach_kill_never_aborts_the_other_run(dss_emulator, context, hook):
    import threading

    other = _someone_elses_run(hook)
    op = _op(if_already_running="attach")
    thread = threading.Thread(
        target=lambda: (wait_until(lambda: context["ti"].xcoms.get("run_id"), what="run_id"), op.on_kill())
    )
    thread.start()
    result = op.execute(context)
    thread.join(10)
    assert result["run_id"] == other["runId"] and result["outcome"] == "SUCCESS"
    assert counters(dss_emulator, "LONG_REFRESH")["future_aborts_requested"] == 0


def test_unknown_mode_is_refused():
    with pytest.raises(DSSConfigurationError, match="if_already_running"):
        _op(if_already_running="queue")
