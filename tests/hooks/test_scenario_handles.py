"""Every DSSHook / scenario handle method over real HTTP against the emulator."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import (
    DSSBadRequestError,
    DSSNotFoundError,
    DSSScenarioRunFailed,
    DSSTimeoutError,
    DSSTriggerFireCancelled,
)
from dss_provider.hooks.dss import DSSHook
from dss_provider.scenario import (
    DSSScenarioRun,
    DSSScenarioRunWaiter,
    StepBasedScenarioSettings,
)

FAST = {"timeout": 20, "poll_interval": 0.02}


def counters(dss_emulator: DSSEmulator, scenario: str, project: str = "DEMO") -> dict:
    return dss_emulator.stats()["scenarios"].get(f"{project}.{scenario}", {})


# --- run_and_wait and outcomes ------------------------------------------------------------------


def test_run_and_wait_success(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    run = hook.get_scenario("DEMO", "BUILD_SALES").run_and_wait({"region": "EU"}, **FAST)
    assert run is not None
    assert run.outcome == "SUCCESS" and run.running is False
    assert run.get_info()["trigger"]["params"] == {"region": "EU"}
    assert run.trigger == {"id": "manual", "type": "manual", "name": "API run", "delay": 0, "active": False}
    assert run.start_time is not None and run.start_time.tzinfo is not None
    assert run.end_time > run.start_time
    assert run.duration == pytest.approx((run.end_time - run.start_time).total_seconds())
    assert run.duration > 0
    assert counters(dss_emulator, "BUILD_SALES")["runs_started"] == 1


def test_warning_passes_by_default_and_fails_with_fail_on_warning(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "QUALITY_CHECKS")
    run = scenario.run_and_wait(**FAST)
    assert run is not None and run.outcome == "WARNING"
    with pytest.raises(DSSScenarioRunFailed, match=r"ended WARNING") as info:
        scenario.run_and_wait(fail_on_warning=True, **FAST)
    assert info.value.outcome == "WARNING"
    assert info.value.target.run_id is not None and info.value.run is not None
    assert info.value.run["runId"] == info.value.target.run_id
    assert info.value.run["result"]["outcome"] == "WARNING"


def test_failed_run_raises_with_the_first_error_naming_the_step(hook: DSSHook) -> None:
    with pytest.raises(DSSScenarioRunFailed) as info:
        hook.get_scenario("DEMO", "NIGHTLY_EXPORT").run_and_wait(**FAST)
    err = info.value
    assert err.outcome == "FAILED"
    assert err.target.project_key == "DEMO" and err.target.scenario_id == "NIGHTLY_EXPORT"
    assert err.target.run_id is not None and err.target.run_id in str(err)
    assert err.first_error is not None
    assert err.first_error["step_id"] == "build_0_true_d_EXPORT_S3"
    assert err.first_error["step_name"] == "Export to S3"
    assert "Dataset EXPORT_S3 could not be written: access denied" in str(err)
    assert "step 'Export to S3' (build_0_true_d_EXPORT_S3)" in str(err)
    assert err.run is not None and err.run["result"]["outcome"] == "FAILED"


def test_failed_run_with_no_fail_returns_the_run(hook: DSSHook) -> None:
    run = hook.get_scenario("DEMO", "NIGHTLY_EXPORT").run_and_wait(no_fail=True, **FAST)
    assert run is not None and run.outcome == "FAILED"
    details = run.get_details()
    # cleanup runs (RUN_ALWAYS), notify is skipped after the failure
    assert [s["step"]["id"] for s in details.steps] == ["build_0_true_d_EXPORT_S3", "cleanup"]
    assert [s.outcome for s in details.steps] == ["FAILED", "SUCCESS"]
    assert details.last_step is not None and details.last_step["step"]["id"] == "cleanup"
    assert details.first_error_details is not None
    assert details.first_error_details["message"] == "Dataset EXPORT_S3 could not be written: access denied"
    first = details.steps[0]
    assert first.first_error_details is not None and first.first_error_details["clazz"].endswith(
        "DKUException"
    )
    assert first.job_ids and first.job_ids[0].startswith("Build_EXPORT_S3_")
    assert details.steps[1].first_error_details is None and details.steps[1].job_ids == []


def test_run_and_wait_times_out_naming_the_run(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 2  # LONG_REFRESH now lasts ~30 s
    scenario = hook.get_scenario("DEMO", "LONG_REFRESH")
    started = time.monotonic()
    with pytest.raises(DSSTimeoutError) as info:
        scenario.run_and_wait(timeout=0.6, poll_interval=0.05)
    assert time.monotonic() - started < 5
    err = info.value
    assert err.target.project_key == "DEMO" and err.target.scenario_id == "LONG_REFRESH"
    assert err.target.run_id is not None
    assert f"project DEMO, scenario LONG_REFRESH, run {err.target.run_id}" in str(err)
    current = scenario.get_current_run()
    assert current is not None and current.id == err.target.run_id  # the run goes on in DSS


def test_wait_for_completion_timeout(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 2
    fire = hook.get_scenario("DEMO", "LONG_REFRESH").run()
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None
    with pytest.raises(DSSTimeoutError, match=f"run {run.id} to finish"):
        run.wait_for_completion(timeout=0.3, poll_interval=0.05)
    assert run.abort() is True


# --- trigger fire ------------------------------------------------------------------------------


def test_trigger_fire_handle(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "BUILD_SALES")
    fire = scenario.run({"x": 1})
    raw = fire.get_raw()
    assert raw["trigger"]["id"] == "manual" and raw["params"] == {"x": 1} and raw["cancelled"] is False
    assert fire.trigger_id == "manual" and fire.trigger_run_id == raw["runId"]
    assert fire.is_cancelled() is False
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None and run.id != fire.trigger_run_id
    again = fire.get_scenario_run()
    assert again is not None and again.id == run.id
    same = scenario.get_trigger_fire("manual", fire.trigger_run_id)
    assert same.get_raw()["runId"] == fire.trigger_run_id and same.is_cancelled(refresh=True) is False
    run.wait_for_completion(**FAST)
    assert run.outcome == "SUCCESS"


def test_cancelled_fire(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    scenario = hook.get_scenario("DEMO", "LONG_REFRESH")
    first = scenario.run()
    assert first.wait_for_scenario_run(**FAST) is not None
    second = scenario.run()
    with pytest.raises(DSSTriggerFireCancelled) as info:
        second.wait_for_scenario_run(**FAST)
    assert info.value.target.trigger_run_id == second.trigger_run_id
    assert f"trigger fire manual/{second.trigger_run_id}" in str(info.value)
    assert second.is_cancelled() is True
    assert second.get_scenario_run() is None
    third = scenario.run()
    assert third.wait_for_scenario_run(no_fail=True, **FAST) is None
    assert third.is_cancelled(refresh=True) is True
    assert scenario.run_and_wait(no_fail=True, **FAST) is None
    assert counters(dss_emulator, "LONG_REFRESH")["runs_started"] == 1
    scenario.abort()


def test_wait_for_scenario_run_times_out(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 0.01  # the fire becomes due after 30 s
    fire = hook.get_scenario("DEMO", "BUILD_SALES").run()
    with pytest.raises(DSSTimeoutError, match=f"trigger fire manual/{fire.trigger_run_id} to start a run"):
        fire.wait_for_scenario_run(timeout=0.3, poll_interval=0.05)


def test_run_waiter(hook: DSSHook) -> None:
    fire = hook.get_scenario("DEMO", "TESTS_SMOKE").run()
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None
    final = DSSScenarioRunWaiter(run, fire).wait(**FAST)
    assert final["runId"] == run.id and final["result"]["outcome"] == "SUCCESS"
    fire = hook.get_scenario("DEMO", "NIGHTLY_EXPORT").run()
    failing = fire.wait_for_scenario_run(**FAST)
    assert failing is not None
    with pytest.raises(DSSScenarioRunFailed, match="ended FAILED"):
        DSSScenarioRunWaiter(failing, fire).wait(**FAST)
    assert DSSScenarioRunWaiter(failing, fire).wait(no_fail=True, **FAST)["result"]["outcome"] == "FAILED"


# --- run handle --------------------------------------------------------------------------------


def test_run_handle_refresh_logs_and_reports(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 10  # the run lasts 0.2 s: it is still going when first seen
    scenario = hook.get_scenario("DEMO", "QUALITY_CHECKS")
    fire = scenario.run()
    run = fire.wait_for_scenario_run(**FAST)
    assert run is not None and run.running is True and run.outcome is None
    with pytest.raises(ValueError, match=f"Scenario run {run.id} has not completed"):
        _ = run.end_time
    run.wait_for_completion(**FAST)
    fresh = DSSScenarioRun(scenario, {"runId": run.id})
    fresh.refresh()
    assert fresh.outcome == "WARNING" and fresh.get_info()["scenario"]["markedAsTest"] is True
    log = run.get_log()
    assert f"Scenario DEMO.QUALITY_CHECKS run {run.id} started" in log
    assert "comp_metrics_d_SALES_PREPARED" in log and "finished with outcome WARNING" in log
    step_log = run.get_log("check_WARNING_d_SALES_PREPARED")
    assert "Run step Run checks on SALES_PREPARED" in step_log
    assert "comp_metrics_d_SALES_PREPARED" not in step_log
    report = run.get_report()
    assert isinstance(report, bytes) and report.startswith(b"<?xml")
    assert f'<testsuite name="DEMO.QUALITY_CHECKS" id="{run.id}" tests="2"'.encode() in report
    step_report = run.get_step_run_report("check_WARNING_d_SALES_PREPARED")
    assert b'tests="1"' in step_report and b"12034 rows (expected &lt;= 12000)" in step_report
    with pytest.raises(DSSNotFoundError, match="no_such_step"):
        run.get_log("no_such_step")


def test_report_of_a_non_test_scenario_is_refused_without_a_request(
    hook: DSSHook, dss_emulator: DSSEmulator
) -> None:
    run = hook.get_scenario("DEMO", "BUILD_SALES").run_and_wait(**FAST)
    assert run is not None
    before = dss_emulator.stats()["requests_total"]
    with pytest.raises(DSSBadRequestError, match="is not marked as a test"):
        run.get_report()
    with pytest.raises(DSSBadRequestError, match="is not marked as a test"):
        run.get_step_run_report("build_0_true_d_SALES_PREPARED")
    assert dss_emulator.stats()["requests_total"] == before


def test_run_abort_aborts_this_run_only(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    scenario = hook.get_scenario("DEMO", "LONG_REFRESH")
    run_a = scenario.run().wait_for_scenario_run(**FAST)
    assert run_a is not None
    assert run_a.abort() is True
    run_a.wait_for_completion(no_fail=True, **FAST)
    assert run_a.outcome == "ABORTED"
    with pytest.raises(DSSScenarioRunFailed, match="ended ABORTED"):
        run_a.wait_for_completion(**FAST)
    run_b = scenario.run().wait_for_scenario_run(**FAST)
    assert run_b is not None and run_b.id != run_a.id
    # Aborting A again must not touch B (a scenario-level abort would).
    assert run_a.abort() is False
    assert hook.abort_run("DEMO", "LONG_REFRESH", run_a.id) is False
    run_b.refresh()
    assert run_b.running is True
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats["aborts_requested"] == 0 and stats["future_aborts_requested"] == 1
    assert hook.abort_run("DEMO", "LONG_REFRESH", run_b.id) is True
    assert run_b.wait_for_completion(no_fail=True, **FAST).outcome == "ABORTED"
    assert counters(dss_emulator, "LONG_REFRESH")["aborts_requested"] == 0
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 2


def test_abort_run_does_not_abort_another_scenario_run(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    long_run = hook.get_scenario("DEMO", "LONG_REFRESH").run().wait_for_scenario_run(**FAST)
    other = hook.get_scenario("OTHER", "REFRESH").run().wait_for_scenario_run(**FAST)
    assert long_run is not None and other is not None
    running = hook.list_running_scenarios()
    assert len(running) == 2 and all(f.get("jobId") for f in running)
    assert hook.abort_run("OTHER", "REFRESH", other.id) is True
    long_run.refresh()
    assert long_run.running is True
    assert len(hook.list_running_scenarios()) == 1
    scenario_abort = hook.get_scenario("DEMO", "LONG_REFRESH").abort()
    assert scenario_abort["aborted"] is True
    long_run.refresh()
    assert long_run.outcome == "ABORTED"
    assert hook.list_running_scenarios() == []


# --- history -----------------------------------------------------------------------------------


def test_history_methods(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "BUILD_SALES")
    with pytest.raises(DSSNotFoundError, match="has no finished run yet"):
        scenario.get_last_finished_run()
    with pytest.raises(DSSNotFoundError, match="has no successful run"):
        scenario.get_last_successful_run()
    assert scenario.get_current_run() is None
    assert scenario.get_average_duration() is None
    ok = scenario.run_and_wait(**FAST)
    assert ok is not None
    assert scenario.get_last_successful_run().id == ok.id
    # A later failed run: last finished != last successful (the official client confuses them).
    settings = scenario.get_settings()
    assert isinstance(settings, StepBasedScenarioSettings)
    settings.raw_steps[0]["params"]["emulator"] = {"duration": 0.5, "outcome": "FAILED", "message": "nope"}
    settings.save()
    failed = scenario.run_and_wait(no_fail=True, **FAST)
    assert failed is not None and failed.outcome == "FAILED"
    assert scenario.get_last_finished_run().id == failed.id
    assert scenario.get_last_successful_run().id == ok.id
    runs = scenario.get_last_runs()
    assert [r.id for r in runs] == [failed.id, ok.id]
    assert [r.id for r in scenario.get_last_runs(limit=1)] == [failed.id]
    assert len(scenario.get_last_runs(only_finished_runs=True)) == 2
    got = scenario.get_run(ok.id)
    assert got.id == ok.id and got.outcome == "SUCCESS"
    today = datetime.now(timezone.utc).date()
    by_date = scenario.get_runs_by_date(today)
    assert {r.id for r in by_date} == {ok.id, failed.id}
    assert scenario.get_runs_by_date(today - timedelta(days=3), today) == []
    assert len(scenario.get_runs_by_date(date.isoformat(today), today + timedelta(days=1))) == 2
    # average over SUCCESS/WARNING only, None while there are fewer than limit
    assert scenario.get_average_duration(limit=2) is None
    avg = scenario.get_average_duration(limit=1)
    assert avg == pytest.approx(ok.duration, abs=0.01)


def test_current_run_and_status_while_running(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    scenario = hook.get_scenario("DEMO", "LONG_REFRESH")
    run = scenario.run().wait_for_scenario_run(**FAST)
    assert run is not None
    current = scenario.get_current_run()
    assert current is not None and current.id == run.id and current.running
    status = scenario.get_status()
    assert status.running is True
    assert status.get_raw()["start"] == run.get_info()["start"]
    items = {i.id: i for i in hook.list_scenarios("DEMO")}
    assert items["LONG_REFRESH"].running is True
    assert items["LONG_REFRESH"].start_time == run.start_time
    assert items["BUILD_SALES"].running is False and items["BUILD_SALES"].start_time is None
    scenario.abort()
    assert scenario.get_status().running is False
    assert scenario.get_current_run() is None
    assert scenario.abort()["aborted"] is False  # idle: a no-op


def test_get_status_next_run(hook: DSSHook) -> None:
    nightly = hook.get_scenario("DEMO", "NIGHTLY_EXPORT").get_status()
    assert nightly.running is False
    assert nightly.next_run is not None and nightly.next_run.tzinfo is not None
    assert nightly.next_run > datetime.now(timezone.utc)
    assert nightly.next_run.astimezone(timezone.utc).minute == 0
    assert nightly.get_raw()["id"] == "NIGHTLY_EXPORT"
    assert hook.get_scenario("DEMO", "BUILD_SALES").get_status().next_run is None


def test_unknown_run_id(hook: DSSHook) -> None:
    with pytest.raises(DSSNotFoundError, match="Scenario run does not exist") as info:
        hook.get_scenario("DEMO", "BUILD_SALES").get_run("2020-01-01-00-00-00-000")
    assert info.value.http_status == 404
    assert "run 2020-01-01-00-00-00-000" in str(info.value)
