"""Bad input gets a clear error before anything is fired."""

from __future__ import annotations

from typing import Any

import pytest

from dss_provider.exceptions import DSSConfigurationError
from dss_provider.operators.abort import DSSAbortScenarioOperator
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.run_scenario import DSSRunScenarioOperator
from tests.fakes import make_context

BASE = {"task_id": "t", "project_key": "DEMO", "scenario_id": "BUILD_SALES"}


def _fires(dss: Any) -> int:
    return sum(c["fires_accepted"] for c in dss.stats()["scenarios"].values())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"project_key": ""}, "project_key must be a non-empty string"),
        ({"project_key": "MY PROJECT"}, "project_key 'MY PROJECT' is not a valid DSS identifier"),
        ({"project_key": None}, "project_key"),
        ({"scenario_id": "a/b"}, "scenario_id 'a/b' is not a valid DSS identifier"),
        ({"scenario_id": ".."}, "scenario_id"),
        ({"scenario_id": 42}, "scenario_id must be a non-empty string"),
        ({"trigger_params": [1, 2]}, "trigger_params must be a JSON object"),
        ({"trigger_params": "not json"}, "not JSON"),
        ({"trigger_params": "[1]"}, "JSON object, got a JSON list"),
        ({"trigger_params": {"when": object()}}, "not JSON-serialisable"),
        ({"poll_interval": 0}, "poll_interval must be greater than 0"),
        ({"poll_interval": -1}, "poll_interval must be greater than 0"),
        ({"poll_interval": "5"}, "poll_interval must be a number"),
        ({"timeout": 0}, "timeout must be greater than 0"),
        ({"timeout": -10}, "timeout must be greater than 0"),
        ({"max_poll_interval": 0}, "max_poll_interval"),
        ({"if_already_running": "queue"}, "if_already_running must be one of 'wait', 'fail', 'attach'"),
        ({"dss_conn_id": ""}, "dss_conn_id must be a non-empty string"),
        ({"log_tail_lines": -1}, "log_tail_lines"),
        ({"deferrable": "false"}, "deferrable must be True or False, got 'false'"),
    ],
)
def test_run_operator_refuses_bad_arguments_at_parse_time(override, message):
    with pytest.raises(DSSConfigurationError, match=message):
        DSSRunScenarioOperator(**{**BASE, **override})


@pytest.mark.parametrize(
    ("field", "rendered", "message"),
    [
        ("project_key", "", "project_key must be a non-empty string"),
        ("project_key", "bad key", "not a valid DSS identifier"),
        ("scenario_id", "x/y", "not a valid DSS identifier"),
        ("trigger_params", "[1, 2]", "JSON object"),
        ("trigger_params", "{oops", "not JSON"),
        ("dss_conn_id", "", "dss_conn_id"),
    ],
)
def test_rendered_templates_are_checked_before_firing(dss_emulator, field, rendered, message):
    op = DSSRunScenarioOperator(**{**BASE, field: "{{ var.value.x }}"})  # not checked yet: a template
    setattr(op, field, rendered)  # what rendering produced
    with pytest.raises(DSSConfigurationError, match=message):
        op.execute(make_context())
    assert _fires(dss_emulator) == 0


def test_templated_json_string_is_accepted(dss_emulator):
    op = DSSRunScenarioOperator(**BASE, trigger_params='{"a": 1}', wait_for_completion=False)
    assert op.execute(make_context())["trigger_params"] == {"a": 1}


def test_unknown_connection_fails_before_firing(dss_emulator):
    op = DSSRunScenarioOperator(**BASE, dss_conn_id="no_such_connection")
    with pytest.raises(DSSConfigurationError, match="'no_such_connection' could not be loaded"):
        op.execute(make_context())
    assert _fires(dss_emulator) == 0


def test_connection_of_another_type_fails_before_firing(dss_emulator, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOME_HTTP", f"http://:{dss_emulator.api_key}@127.0.0.1:{dss_emulator.port}/"
    )
    op = DSSRunScenarioOperator(**BASE, dss_conn_id="some_http")
    with pytest.raises(DSSConfigurationError, match="is of type 'http', not 'dataiku_dss'"):
        op.execute(make_context())
    assert _fires(dss_emulator) == 0


def test_unknown_scenario_fails_without_firing(dss_emulator):
    from dss_provider.exceptions import DSSNotFoundError

    with pytest.raises(DSSNotFoundError):
        DSSRunScenarioOperator(**{**BASE, "scenario_id": "NOPE"}).execute(make_context())
    assert _fires(dss_emulator) == 0


def test_xcomarg_like_values_are_checked_after_rendering():
    class Later:  # stands for an XComArg: resolved at run time
        pass

    op = DSSRunScenarioOperator(**{**BASE, "project_key": Later(), "trigger_params": Later()})
    assert isinstance(op.project_key, Later)


@pytest.mark.parametrize(
    ("cls", "override", "message"),
    [
        (DSSAbortScenarioOperator, {"run_id": "a b"}, "run_id 'a b' is not a valid"),
        (DSSAbortScenarioOperator, {"timeout": 0}, "timeout must be greater than 0"),
        (DSSAbortScenarioOperator, {"poll_interval": -1}, "poll_interval"),
        (DSSAbortScenarioOperator, {"project_key": ""}, "project_key"),
        (DSSGetScenarioRunLogOperator, {"step_id": "x y"}, "step_id"),
        (DSSGetScenarioRunLogOperator, {"run_id": "../x"}, "run_id"),
        (DSSGetScenarioRunLogOperator, {"log_tail_lines": -5}, "log_tail_lines"),
        (DSSGetScenarioRunLogOperator, {"scenario_id": ""}, "scenario_id"),
        (DSSGetScenarioRunReportOperator, {"step_id": "a/b"}, "step_id"),
        (DSSGetScenarioRunReportOperator, {"dss_conn_id": ""}, "dss_conn_id"),
    ],
)
def test_other_operators_refuse_bad_arguments(cls, override, message):
    with pytest.raises(DSSConfigurationError, match=message):
        cls(**{**BASE, **override})


def test_output_path_that_is_a_directory_is_refused(dss_emulator, tmp_path):
    op = DSSGetScenarioRunLogOperator(**BASE, run_id="2020-01-01-00-00-00-000", output_path=str(tmp_path))
    with pytest.raises(DSSConfigurationError, match="is a directory"):
        op.execute(make_context())
