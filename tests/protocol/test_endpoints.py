"""The sans-IO request descriptions: paths, queries, bodies, and id/params validation."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from dss_provider.exceptions import DSSConfigurationError, DSSTarget
from dss_provider.protocol import endpoints as ep


def test_run_scenario_is_a_post_with_the_params_as_body_and_not_retry_safe() -> None:
    req = ep.run_scenario("DEMO", "BUILD_SALES", {"a": 1})
    assert (req.method, req.path) == ("POST", "/projects/DEMO/scenarios/BUILD_SALES/run")
    assert json.loads(req.body_bytes() or b"") == {"a": 1}
    assert req.retry_safe is False
    assert req.target == DSSTarget(project_key="DEMO", scenario_id="BUILD_SALES")


def test_run_scenario_without_params_still_sends_an_empty_object() -> None:
    req = ep.run_scenario("DEMO", "S", None)
    assert req.body_bytes() == b"{}"


def test_abort_has_no_body() -> None:
    req = ep.abort_scenario("K", "S")
    assert (req.method, req.path, req.body_bytes()) == ("POST", "/projects/K/scenarios/S/abort", None)
    assert req.retry_safe is True


@pytest.mark.parametrize(
    ("request_", "method", "path", "query"),
    [
        (
            ep.get_trigger_fire("K", "S", "manual", "TR1"),
            "GET",
            "/projects/K/scenarios/trigger/S/manual",
            (("triggerRunId", "TR1"),),
        ),
        (
            ep.get_run_for_trigger("K", "S", "manual", "TR1"),
            "GET",
            "/projects/K/scenarios/S/get-run-for-trigger",
            (("triggerId", "manual"), ("triggerRunId", "TR1")),
        ),
        (ep.get_run_details("K", "S", "R1"), "GET", "/projects/K/scenarios/S/R1/", ()),
        (
            ep.get_last_runs("K", "S", 3, True),
            "GET",
            "/projects/K/scenarios/S/get-last-runs",
            (("limit", "3"), ("onlyFinishedRuns", "True")),
        ),
        (
            ep.get_last_runs("K", "S"),
            "GET",
            "/projects/K/scenarios/S/get-last-runs",
            (("limit", "10"), ("onlyFinishedRuns", "False")),
        ),
        (ep.get_run_log("K", "S", "R1"), "GET", "/projects/K/scenarios/S/R1/log", ()),
        (
            ep.get_run_log("K", "S", "R1", "step_1"),
            "GET",
            "/projects/K/scenarios/S/R1/log",
            (("stepId", "step_1"),),
        ),
        (ep.get_run_report("K", "S", "R1"), "GET", "/projects/K/scenarios/S/R1/scenario-run-report", ()),
        (
            ep.get_step_run_report("K", "S", "R1", "st"),
            "GET",
            "/projects/K/scenarios/S/R1/step-run-report",
            (("stepId", "st"),),
        ),
        (ep.get_light_status("K", "S"), "GET", "/projects/K/scenarios/S/light", ()),
        (ep.get_settings("K", "S"), "GET", "/projects/K/scenarios/S", ()),
        (ep.delete_scenario("K", "S"), "DELETE", "/projects/K/scenarios/S", ()),
        (ep.list_scenarios("K"), "GET", "/projects/K/scenarios/", ()),
        (ep.get_testing_status("K"), "GET", "/projects/K/scenarios/testing-status", ()),
        (
            ep.get_testing_status("K", "b1"),
            "GET",
            "/projects/K/scenarios/testing-status",
            (("bundleId", "b1"),),
        ),
        (ep.list_discussions("K", "S"), "GET", "/projects/K/discussions/SCENARIO/S/", ()),
        (ep.get_discussion("K", "S", "d1"), "GET", "/projects/K/discussions/SCENARIO/S/d1", ()),
        (ep.list_projects(), "GET", "/projects/", ()),
        (
            ep.list_running_scenario_futures(),
            "GET",
            "/futures/",
            (("withScenarios", "True"), ("withNotScenarios", "False"), ("allUsers", "False")),
        ),
        (ep.abort_future("abc123"), "DELETE", "/futures/abc123", ()),
    ],
)
def test_paths_and_queries(request_: ep.ApiRequest, method: str, path: str, query: tuple) -> None:
    assert (request_.method, request_.path, request_.query) == (method, path, query)


def test_response_kinds() -> None:
    assert ep.get_run_log("K", "S", "R").response == "text"
    assert ep.get_run_report("K", "S", "R").response == "bytes"
    assert ep.get_step_run_report("K", "S", "R", "x").response == "bytes"
    assert ep.get_run_details("K", "S", "R").response == "json"


def test_targets_name_what_was_asked() -> None:
    assert ep.get_run_log("K", "S", "R", "st").target.describe() == "project K, scenario S, run R, step st"
    fire = ep.get_trigger_fire("K", "S", "manual", "TR")
    assert fire.target.describe() == "project K, scenario S, trigger fire manual/TR"
    assert ep.list_projects().target.describe() == "the DSS instance"


def test_payload_get_sends_a_body_and_set_payload_can_omit_the_extension() -> None:
    assert json.loads(ep.get_payload("K", "S").body_bytes() or b"") == {"extension": "py"}
    assert ep.set_payload("K", "S", "print(1)", extension=None).body == {"script": "print(1)"}
    assert ep.set_payload("K", "S", "x").body == {"script": "x", "extension": "py"}
    with pytest.raises(DSSConfigurationError, match="script must be a string"):
        ep.set_payload("K", "S", 42)  # type: ignore[arg-type]


def test_create_scenario_body() -> None:
    req = ep.create_scenario("K", "My scenario", "step_based")
    assert req.body == {"params": {}, "type": "step_based", "name": "My scenario"}
    custom = ep.create_scenario("K", "n", "custom_python", {"params": {"x": 1}, "active": True})
    assert custom.body == {"params": {"x": 1}, "active": True, "type": "custom_python", "name": "n"}
    with pytest.raises(DSSConfigurationError, match="type must be 'step_based' or 'custom_python'"):
        ep.create_scenario("K", "n", "sql")
    with pytest.raises(DSSConfigurationError, match="name must be a non-empty string"):
        ep.create_scenario("K", " ", "step_based")


def test_ids_are_url_quoted() -> None:
    # '.' and '-' are legal in DSS ids; they must go to the path as they are.
    assert ep.get_run_details("K", "S", "2024-10-29-10-01-57-686").path == (
        "/projects/K/scenarios/S/2024-10-29-10-01-57-686/"
    )


@pytest.mark.parametrize("bad", ["", "   ", "../x", "..", ".", "a/b", "a b", "x?y=1", "%2e%2e", None, 42])
def test_invalid_ids_are_refused_with_the_argument_named(bad: object) -> None:
    with pytest.raises(DSSConfigurationError, match="scenario_id"):
        ep.get_settings("DEMO", bad)  # type: ignore[arg-type]
    with pytest.raises(DSSConfigurationError, match="project_key"):
        ep.list_scenarios(bad)  # type: ignore[arg-type]
    with pytest.raises(DSSConfigurationError, match="run_id"):
        ep.get_run_details("DEMO", "S", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([1, 2], "must be a JSON object \\(a dict\\), got list"),
        ("x=1", "must be a JSON object \\(a dict\\), got str"),
        ({"when": datetime(2024, 1, 1)}, "is not JSON-serialisable"),
        ({"obj": object()}, "is not JSON-serialisable"),
        ({"nan": float("nan")}, "is not JSON-serialisable"),
    ],
)
def test_trigger_params_must_be_a_json_object(params: object, message: str) -> None:
    with pytest.raises(DSSConfigurationError, match="trigger_params " + message):
        ep.run_scenario("K", "S", params)  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [0, -1, True, 2.5, "3"])
def test_last_runs_limit_validation(limit: object) -> None:
    with pytest.raises(DSSConfigurationError, match="limit must be a positive integer"):
        ep.get_last_runs("K", "S", limit)  # type: ignore[arg-type]


def test_runs_by_date_formats_dates() -> None:
    req = ep.get_runs_by_date("K", "S", date(2024, 1, 2), datetime(2024, 2, 3, 23, 59, tzinfo=timezone.utc))
    assert req.query == (("fromDate", "2024-01-02"), ("toDate", "2024-02-03"))
    assert ep.get_runs_by_date("K", "S", "2024-01-02", "2024-01-03").query[0] == ("fromDate", "2024-01-02")
    with pytest.raises(DSSConfigurationError, match="from_date must be a date"):
        ep.get_runs_by_date("K", "S", "yesterday", "2024-01-03")
