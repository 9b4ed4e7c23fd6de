"""DSSAbortScenarioOperator, DSSGetScenarioRunLogOperator and DSSGetScenarioRunReportOperator."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from dss_provider.exceptions import DSSConfigurationError, DSSNotFoundError
from dss_provider.operators.abort import DSSAbortScenarioOperator
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from tests.fakes import make_context
from tests.operators.conftest import counters, wait_until


def _start(hook: Any, scenario: str = "LONG_REFRESH") -> str:
    fire = hook.fire_scenario("DEMO", scenario).get_raw()
    return wait_until(
        lambda: hook.resolve_fire("DEMO", scenario, "manual", fire["runId"]).run, what="run start"
    )["runId"]


def _finished(scenario: str) -> dict[str, Any]:
    op = DSSRunScenarioOperator(
        task_id="run", project_key="DEMO", scenario_id=scenario, poll_interval=0.05, fail_on_warning=False
    )
    try:
        return op.execute(make_context())
    except Exception as err:  # a FAILED run: its dict rides on the exception
        return err.run  # type: ignore[attr-defined]


def _outcome(dss: Any, scenario: str, run_id: str) -> str | None:
    with dss.state.lock:
        dss.state.advance_all()
        run = dss.state.catalog.projects["DEMO"].scenarios[scenario].runs[run_id]
        return run.outcome if run.finished else None


# --- abort ---------------------------------------------------------------------------------------


def _abort(**kwargs: Any) -> DSSAbortScenarioOperator:
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("scenario_id", "LONG_REFRESH")
    return DSSAbortScenarioOperator(task_id="abort", project_key="DEMO", **kwargs)


def test_abort_the_given_run_and_wait(dss_emulator, hook):
    run_id = _start(hook)
    context = make_context()
    result = _abort(run_id=run_id).execute(context)
    assert result == {
        "project_key": "DEMO",
        "scenario_id": "LONG_REFRESH",
        "run_id": run_id,
        "aborted": True,
        "outcome": "ABORTED",
        "url": f"{dss_emulator.url}/projects/DEMO/scenarios/LONG_REFRESH/runs/list/{run_id}",
    }
    assert context["ti"].xcoms["run_id"] == run_id
    assert _outcome(dss_emulator, "LONG_REFRESH", run_id) == "ABORTED"


def test_abort_the_current_run_only(dss_emulator, hook):
    run_id = _start(hook)
    other = _start(hook, "NIGHTLY_EXPORT")
    result = _abort().execute(make_context())
    assert result["run_id"] == run_id and result["aborted"] is True and result["outcome"] == "ABORTED"
    assert counters(dss_emulator, "NIGHTLY_EXPORT")["runs_aborted"] == 0
    assert _outcome(dss_emulator, "NIGHTLY_EXPORT", other) != "ABORTED"


def test_abort_without_wait(dss_emulator, hook):
    run_id = _start(hook)
    result = _abort(run_id=run_id, wait=False).execute(make_context())
    assert result["aborted"] is True
    assert counters(dss_emulator, "LONG_REFRESH")["runs_aborted"] == 1


def test_abort_a_scenario_that_is_not_running_succeeds(dss_emulator, capsys):
    result = _abort().execute(make_context())
    assert result["aborted"] is False and result["run_id"] is None and result["outcome"] is None
    assert "is not running: nothing to abort" in capsys.readouterr().out
    stats = counters(dss_emulator, "LONG_REFRESH")
    assert stats.get("aborts_requested", 0) == 0 and stats.get("future_aborts_requested", 0) == 0


def test_abort_a_finished_run_succeeds_and_leaves_the_current_one(dss_emulator, hook, capsys):
    finished = _finished("BUILD_SALES")
    running = _start(hook, "BUILD_SALES")
    result = _abort(scenario_id="BUILD_SALES", run_id=finished["run_id"]).execute(make_context())
    assert result["aborted"] is False and result["outcome"] == "SUCCESS"
    assert "already finished (SUCCESS): nothing to abort" in capsys.readouterr().out
    assert counters(dss_emulator, "BUILD_SALES")["runs_aborted"] == 0
    wait_until(lambda: _outcome(dss_emulator, "BUILD_SALES", running), what="the current run to end")
    assert _outcome(dss_emulator, "BUILD_SALES", running) == "SUCCESS"


def test_abort_an_unknown_run_fails_clearly(dss_emulator):
    with pytest.raises(DSSNotFoundError):
        _abort(run_id="2001-01-01-00-00-00-000").execute(make_context())


# --- log -----------------------------------------------------------------------------------------


def _log_op(**kwargs: Any) -> DSSGetScenarioRunLogOperator:
    return DSSGetScenarioRunLogOperator(task_id="log", project_key="DEMO", **kwargs)


def test_log_of_the_last_finished_run_by_default(dss_emulator, capsys):
    run = _finished("BUILD_SALES")
    result = _log_op(scenario_id="BUILD_SALES").execute(make_context())
    assert result["run_id"] == run["run_id"] and result["step_id"] is None
    assert "Wrote 12034 rows to SALES_PREPARED" in result["content"]
    assert result["truncated"] is False and result["size"] == len(result["content"].encode())
    json.dumps(result)
    out = capsys.readouterr().out
    assert "Wrote 42 rows to SALES_BY_REGION" in out  # also in the task log


def test_log_of_one_step_to_a_file(dss_emulator, tmp_path):
    run = _finished("BUILD_SALES")
    path = tmp_path / "logs" / "step.log"
    result = _log_op(
        scenario_id="BUILD_SALES",
        run_id=run["run_id"],
        step_id="build_1_true_d_SALES_BY_REGION",
        output_path=str(path),
    ).execute(make_context())
    assert result["path"] == str(path) and "content" not in result
    text = path.read_text()
    assert result["size"] == len(text.encode()) > 0
    assert "Wrote 42 rows to SALES_BY_REGION" in text and "SALES_PREPARED" not in text


def test_large_log_stays_out_of_xcom_and_the_task_log_is_bounded(dss_emulator, capsys):
    big = "\n".join(f"line {i} " + "x" * 60 for i in range(3000))
    with dss_emulator.state.lock:
        sc = dss_emulator.state.catalog.projects["DEMO"].scenarios["PY_SCORING"]
        sc.settings["params"]["emulator"] = {"duration": 1, "log": big}
    _finished("PY_SCORING")
    result = _log_op(scenario_id="PY_SCORING", log_tail_lines=5, max_xcom_chars=1000).execute(make_context())
    assert result["truncated"] is True and len(result["content"]) == 1000
    assert result["size"] > 100_000
    out = capsys.readouterr().out
    assert "last 5 lines" in out and "line 2999" in out and "line 10 " not in out


def test_log_without_any_finished_run_fails_clearly(dss_emulator):
    with pytest.raises(DSSNotFoundError, match="no finished run"):
        _log_op(scenario_id="LONG_REFRESH").execute(make_context())


# --- report --------------------------------------------------------------------------------------


def _report_op(**kwargs: Any) -> DSSGetScenarioRunReportOperator:
    return DSSGetScenarioRunReportOperator(task_id="report", project_key="DEMO", **kwargs)


def test_report_summary_of_a_test_scenario(dss_emulator, tmp_path):
    run = _finished("TESTS_SMOKE")
    path = tmp_path / "junit.xml"
    result = _report_op(scenario_id="TESTS_SMOKE", output_path=str(path)).execute(make_context())
    assert {k: result[k] for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": 2,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
    }
    assert result["path"] == str(path) and result["run_id"] == run["run_id"]
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and len(list(root.iter("testcase"))) == 2
    assert result["size"] == path.stat().st_size


def test_report_of_a_failed_test_run_counts_failures(dss_emulator, capsys):
    with dss_emulator.state.lock:
        sc = dss_emulator.state.catalog.projects["DEMO"].scenarios["TESTS_SMOKE"]
        sc.settings["params"]["steps"][1]["params"]["emulator"] = {
            "duration": 0.5,
            "outcome": "FAILED",
            "message": "data is 3 days old",
        }
    run = _finished("TESTS_SMOKE")
    assert run["outcome"] == "FAILED"
    result = _report_op(scenario_id="TESTS_SMOKE", run_id=run["run_id"]).execute(make_context())
    assert result["tests"] == 2 and result["failures"] == 1 and result["path"] is None
    assert "data is 3 days old" in capsys.readouterr().out


def test_report_of_one_step(dss_emulator):
    run = _finished("QUALITY_CHECKS")
    result = _report_op(
        scenario_id="QUALITY_CHECKS", run_id=run["run_id"], step_id="check_WARNING_d_SALES_PREPARED"
    ).execute(make_context())
    assert (
        result["tests"] == 1
        and result["failures"] == 0
        and result["step_id"] == "check_WARNING_d_SALES_PREPARED"
    )


def test_report_of_a_scenario_not_marked_as_test_fails_clearly(dss_emulator):
    _finished("BUILD_SALES")
    with pytest.raises(DSSConfigurationError, match="not marked as a test"):
        _report_op(scenario_id="BUILD_SALES").execute(make_context())


def test_report_parser_refuses_entities():
    from dss_provider.exceptions import DSSError, DSSTarget
    from dss_provider.operators.junit import parse_junit

    with pytest.raises(DSSError, match="DTD"):
        parse_junit(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><testsuites/>', DSSTarget())
    with pytest.raises(DSSError, match="not valid XML"):
        parse_junit(b"<testsuites>", DSSTarget())
    totals, problems = parse_junit(
        b'<testsuite><testcase name="a"><failure message="boom"/></testcase><testcase name="b"/></testsuite>',
        DSSTarget(),
    )
    assert totals == {"tests": 2, "failures": 1, "errors": 0, "skipped": 0}
    assert problems == ["a (failure): boom"]
