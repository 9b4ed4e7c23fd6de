"""DSSRunScenarioOperator against the emulator: every mode, every outcome, XCom and the link."""

from __future__ import annotations

from typing import Any

import pytest

from dss_provider.exceptions import DSSScenarioRunFailed
from dss_provider.links.run_link import DSSScenarioRunLink
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from tests.dss_support import RUN_KEYS, STEP_KEYS
from tests.fakes import make_context
from tests.operators.conftest import counters, run_deferrable


def _op(scenario: str = "BUILD_SALES", **kwargs: Any) -> DSSRunScenarioOperator:
    kwargs.setdefault("poll_interval", 0.05)
    return DSSRunScenarioOperator(task_id="run", project_key="DEMO", scenario_id=scenario, **kwargs)


def _run(op: DSSRunScenarioOperator, context: dict[str, Any]) -> Any:
    return run_deferrable(op, context) if op.deferrable else op.execute(context)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_success_returns_the_run_dict_and_pushes_xcom(dss_emulator, context, deferrable):
    op = _op(deferrable=deferrable, trigger_params={"region": "EU", "limit": 3})
    result = _run(op, context)

    assert set(result) == RUN_KEYS
    assert result["outcome"] == "SUCCESS"
    assert result["project_key"] == "DEMO" and result["scenario_id"] == "BUILD_SALES"
    assert result["trigger_id"] == "manual" and result["trigger_run_id"]
    assert result["run_id"] and result["run_id"] != result["trigger_run_id"]
    assert result["trigger_params"] == {"region": "EU", "limit": 3}
    assert result["start"].endswith("+00:00") and result["end"] >= result["start"]
    assert result["duration"] == pytest.approx(6 / 50, abs=0.05)
    assert (
        result["url"]
        == f"{dss_emulator.url}/projects/DEMO/scenarios/BUILD_SALES/runs/list/{result['run_id']}"
    )
    assert [s["id"] for s in result["steps"]] == [
        "build_0_true_d_SALES_PREPARED",
        "build_1_true_d_SALES_BY_REGION",
        "comp_metrics_d_SALES_BY_REGION",
    ]
    for step in result["steps"]:
        assert set(step) == STEP_KEYS
        assert step["outcome"] == "SUCCESS" and step["error"] is None
        assert step["job_ids"]
    xcoms = context["ti"].xcoms
    assert xcoms["trigger_id"] == result["trigger_id"]
    assert xcoms["trigger_run_id"] == result["trigger_run_id"]
    assert xcoms["run_id"] == result["run_id"]
    assert xcoms["run_url"] == result["url"]
    # The run really carried the trigger params, and exactly one run was started.
    run = dss_emulator.state.catalog.projects["DEMO"].scenarios["BUILD_SALES"].runs[result["run_id"]]
    assert run.fire.params == {"region": "EU", "limit": 3}
    stats = counters(dss_emulator, "BUILD_SALES")
    assert stats["fires_accepted"] == 1 and stats["runs_started"] == 1


def test_worker_and_deferred_return_the_same_shape(dss_emulator):
    worker = _op().execute(make_context())
    deferred = run_deferrable(_op(deferrable=True), make_context())
    assert set(worker) == set(deferred)
    ignore = {"trigger_run_id", "run_id", "start", "end", "duration", "url"}
    assert {k: v for k, v in worker.items() if k not in ignore | {"steps"}} == {
        k: v for k, v in deferred.items() if k not in ignore | {"steps"}
    }

    def strip(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k not in ("start", "end", "job_ids")} for s in steps]

    assert strip(worker["steps"]) == strip(deferred["steps"])


def test_worker_logs_each_step_start_and_end(dss_emulator, context, capsys):
    _op().execute(context)
    out = capsys.readouterr().out
    for number, name in enumerate(["Build SALES_PREPARED", "Build SALES_BY_REGION"], start=1):
        assert f"step {number} '{name}' (build_flowitem) started" in out
        assert f"step {number} '{name}' (build_flowitem) ended SUCCESS in " in out
    assert "finished SUCCESS" in out


def test_worker_logs_the_steps_of_a_run_that_ended_before_its_first_look(
    dss_emulator, context, capsys, monkeypatch
):
    real_wait = DSSRunScenarioOperator._wait_for_run

    def after_the_end(self: Any, ctx: Any, state: Any) -> Any:
        from tests.operators.conftest import wait_until

        wait_until(lambda: counters(dss_emulator, "BUILD_SALES").get("runs_by_outcome"), what="run end")
        return real_wait(self, ctx, state)

    monkeypatch.setattr(DSSRunScenarioOperator, "_wait_for_run", after_the_end)
    _op().execute(context)
    out = capsys.readouterr().out
    assert "has already finished" in out
    for number, name in enumerate(["Build SALES_PREPARED", "Build SALES_BY_REGION"], start=1):
        assert f"step {number} '{name}' (build_flowitem) ended SUCCESS in " in out


def test_fire_and_return(dss_emulator, context):
    result = _op(wait_for_completion=False).execute(context)
    assert set(result) == RUN_KEYS
    assert result["trigger_id"] == "manual" and result["trigger_run_id"]
    assert result["run_id"] is None and result["outcome"] is None and result["steps"] == []
    assert result["start"] is None and result["end"] is None and result["duration"] is None
    assert result["url"] == f"{dss_emulator.url}/projects/DEMO/scenarios/BUILD_SALES/runs/list/"
    assert context["ti"].xcoms["trigger_run_id"] == result["trigger_run_id"]
    assert "run_id" not in context["ti"].xcoms
    assert counters(dss_emulator, "BUILD_SALES")["fires_accepted"] == 1


def test_fire_and_return_ignores_deferrable(dss_emulator, context):
    result = _op(wait_for_completion=False, deferrable=True).execute(context)
    assert result["run_id"] is None and result["trigger_run_id"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_warning_passes_with_a_warning(dss_emulator, context, capsys, deferrable):
    result = _run(_op("QUALITY_CHECKS", deferrable=deferrable), context)
    assert result["outcome"] == "WARNING"
    assert [s["outcome"] for s in result["steps"]] == ["SUCCESS", "WARNING"]
    out = capsys.readouterr().out
    assert "finished WARNING" in out and "12034 rows (expected <= 12000)" in out


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_warning_fails_with_fail_on_warning(dss_emulator, context, deferrable):
    with pytest.raises(DSSScenarioRunFailed, match="WARNING") as err:
        _run(_op("QUALITY_CHECKS", deferrable=deferrable, fail_on_warning=True), context)
    assert err.value.outcome == "WARNING"
    assert err.value.run["outcome"] == "WARNING"
    assert context["ti"].xcoms["run_id"] == err.value.run["run_id"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_failed_run_raises_with_first_error_and_log_tail(dss_emulator, context, capsys, deferrable):
    with pytest.raises(DSSScenarioRunFailed) as err:
        _run(_op("NIGHTLY_EXPORT", deferrable=deferrable), context)
    failure = err.value
    assert failure.outcome == "FAILED"
    assert failure.first_error["step_id"] == "build_0_true_d_EXPORT_S3"
    assert failure.first_error["step_name"] == "Export to S3"
    assert "access denied" in failure.first_error["message"]
    assert "Export to S3" in str(failure) and "access denied" in str(failure)
    assert failure.target.run_id == context["ti"].xcoms["run_id"]
    # The RUN_ALWAYS cleanup ran after the failed step; the run dict says so.
    assert [s["outcome"] for s in failure.run["steps"]] == ["FAILED", "SUCCESS"]
    out = capsys.readouterr().out
    assert "DSS log of step build_0_true_d_EXPORT_S3" in out
    assert context["ti"].xcoms["run_url"].endswith(context["ti"].xcoms["run_id"])


def test_log_tail_lines_zero_skips_the_log(dss_emulator, context, capsys):
    with pytest.raises(DSSScenarioRunFailed):
        _op("NIGHTLY_EXPORT", log_tail_lines=0).execute(context)
    assert "DSS log of step" not in capsys.readouterr().out


def test_aborted_run_raises(dss_emulator, context, hook):
    import threading

    op = _op("LONG_REFRESH")

    def abort_when_running() -> None:
        from tests.operators.conftest import wait_until

        run_id = wait_until(lambda: context["ti"].xcoms.get("run_id"), what="run_id XCom")
        hook.abort_run("DEMO", "LONG_REFRESH", run_id)

    thread = threading.Thread(target=abort_when_running)
    thread.start()
    try:
        with pytest.raises(DSSScenarioRunFailed, match="ABORTED") as err:
            op.execute(context)
    finally:
        thread.join(10)
    assert err.value.outcome == "ABORTED"
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 1


def test_deferred_run_already_finished_does_not_defer(dss_emulator, context, monkeypatch):
    """The run is checked before deferring: one that already ended is reported without a trigger."""
    op = _op(deferrable=True)
    real_wait = DSSRunScenarioOperator._wait_for_run

    def finished_first(self: Any, ctx: Any, state: dict[str, Any]) -> Any:
        from tests.operators.conftest import wait_until

        wait_until(lambda: counters(dss_emulator, "BUILD_SALES").get("runs_by_outcome"), what="run end")
        return real_wait(self, ctx, state)

    monkeypatch.setattr(DSSRunScenarioOperator, "_wait_for_run", finished_first)
    monkeypatch.setattr(DSSRunScenarioOperator, "defer", lambda *a, **k: pytest.fail("deferred"))
    assert op.execute(context)["outcome"] == "SUCCESS"


def test_deferred_failed_before_deferral_still_fails(dss_emulator, context, monkeypatch):
    real_wait = DSSRunScenarioOperator._wait_for_run

    def finished_first(self: Any, ctx: Any, state: dict[str, Any]) -> Any:
        from tests.operators.conftest import wait_until

        wait_until(lambda: counters(dss_emulator, "NIGHTLY_EXPORT").get("runs_by_outcome"), what="run end")
        return real_wait(self, ctx, state)

    monkeypatch.setattr(DSSRunScenarioOperator, "_wait_for_run", finished_first)
    monkeypatch.setattr(DSSRunScenarioOperator, "defer", lambda *a, **k: pytest.fail("deferred"))
    with pytest.raises(DSSScenarioRunFailed, match="FAILED"):
        _op("NIGHTLY_EXPORT", deferrable=True).execute(context)


def test_deferral_hands_the_trigger_a_wall_clock_deadline(dss_emulator, context):
    import time

    from dss_provider.compat import TaskDeferred
    from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger

    op = _op("LONG_REFRESH", deferrable=True, timeout=30, abort_on_kill=False)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, DSSScenarioRunTrigger)
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout is None
    assert before + 29 < trigger.end_time < time.time() + 31  # epoch, not monotonic
    assert trigger.run_id == context["ti"].xcoms["run_id"]
    assert trigger.abort_on_kill is False
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("DSSScenarioRunTrigger") and kwargs["run_id"] == trigger.run_id


def test_execution_timeout_becomes_a_deadline_when_deferred(dss_emulator, context, hook):
    import time
    from datetime import timedelta

    from dss_provider.compat import TaskDeferred

    op = _op("LONG_REFRESH", deferrable=True, execution_timeout=timedelta(seconds=20))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert time.time() + 15 < deferred.value.trigger.end_time < time.time() + 21
    hook.abort_run("DEMO", "LONG_REFRESH", context["ti"].xcoms["run_id"])  # tidy up


def test_extra_link_reads_the_run_url_xcom(dss_emulator, context, monkeypatch):
    from dss_provider.compat import XCom

    op = _op()
    result = op.execute(context)
    asked: list[str] = []

    def get_value(*, ti_key: Any, key: str) -> Any:
        asked.append(key)
        return context["ti"].xcoms.get(key)

    monkeypatch.setattr(XCom, "get_value", get_value)
    link = DSSScenarioRunLink()
    assert link.name == "DSS scenario run"
    assert any(isinstance(x, DSSScenarioRunLink) for x in op.operator_extra_links)
    url = link.get_link(op, ti_key=object())  # type: ignore[arg-type]
    assert url == f"{dss_emulator.url}/projects/DEMO/scenarios/BUILD_SALES/runs/list/{result['run_id']}"
    assert asked == ["run_url"]


def test_extra_link_is_empty_without_xcom(monkeypatch):
    from dss_provider.compat import XCom

    monkeypatch.setattr(XCom, "get_value", lambda **_: None)
    assert DSSScenarioRunLink().get_link(_op(), ti_key=object()) == ""  # type: ignore[arg-type]


def test_link_uses_public_url_of_the_connection(dss_emulator, context, monkeypatch):
    for name, value in dss_emulator.airflow_env(public_url="https://dss.example.com").items():
        monkeypatch.setenv(name, value)
    result = _op().execute(context)
    assert result["url"].startswith("https://dss.example.com/projects/DEMO/scenarios/BUILD_SALES/runs/list/")
    assert context["ti"].xcoms["run_url"] == result["url"]


def test_templated_fields_render(dss_emulator):
    op = _op()
    assert set(op.template_fields) == {"project_key", "scenario_id", "trigger_params", "dss_conn_id"}
    templated = DSSRunScenarioOperator(
        task_id="t", project_key="{{ params.k }}", scenario_id="{{ params.s }}", trigger_params="{{ x }}"
    )
    templated.project_key, templated.scenario_id = "DEMO", "PY_SCORING"
    templated.trigger_params = '{"n": 1}'
    templated.poll_interval = 0.05
    result = templated.execute(make_context())
    assert result["outcome"] == "SUCCESS" and result["trigger_params"] == {"n": 1}
    assert [s["type"] for s in result["steps"]] == ["custom_python"]


@pytest.mark.parametrize(("setting", "expected"), [("True", True), ("False", False)])
def test_deferrable_defaults_to_the_airflow_setting(monkeypatch, setting, expected):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    assert _op().deferrable is expected
    assert _op(deferrable=not expected).deferrable is (not expected)
