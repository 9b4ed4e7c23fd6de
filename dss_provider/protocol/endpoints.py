"""One description of every DSS request the provider makes (sans-IO: no sockets here).

Each function returns an :class:`ApiRequest`: method, path (after the API prefix), query, JSON body,
what the answer is, whether it is safe to repeat, and what it is about (for error messages). The sync
hook (requests) and the async hook (aiohttp) both execute these; the emulator's tests use them too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from urllib.parse import quote

# Re-exported: callers (and older code) use endpoints.check_id and endpoints.check_json_object.
from dss_provider.checks import check_id as check_id
from dss_provider.checks import check_json_object as check_json_object
from dss_provider.exceptions import DSSConfigurationError, DSSTarget

ResponseKind = Literal["json", "text", "bytes"]


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One DSS request, described as data."""

    name: str
    method: str
    path: str
    target: DSSTarget
    query: tuple[tuple[str, str], ...] = ()
    body: Any = None
    has_body: bool = False
    response: ResponseKind = "json"
    #: False for requests that change DSS in a way a blind repeat would double (firing a run).
    retry_safe: bool = True
    headers: tuple[tuple[str, str], ...] = field(default=())

    def body_bytes(self) -> bytes | None:
        """The JSON body as bytes (DSS accepts it without a Content-Type, we still send one)."""
        if not self.has_body:
            return None
        return json.dumps(self.body).encode("utf-8")


def _seg(value: str) -> str:
    return quote(value, safe="")


def _scenario(project_key: str, scenario_id: str) -> tuple[str, DSSTarget]:
    k = check_id(project_key, "project_key")
    s = check_id(scenario_id, "scenario_id")
    return f"/projects/{_seg(k)}/scenarios/{_seg(s)}", DSSTarget(project_key=k, scenario_id=s)


def _run(project_key: str, scenario_id: str, run_id: str) -> tuple[str, DSSTarget]:
    base, target = _scenario(project_key, scenario_id)
    r = check_id(run_id, "run_id")
    return f"{base}/{_seg(r)}", DSSTarget(
        project_key=target.project_key, scenario_id=target.scenario_id, run_id=r
    )


def _bool(value: bool) -> str:
    return "True" if value else "False"


def _date(value: date | datetime | str, what: str) -> str:
    if isinstance(value, (date, datetime)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return value
    raise DSSConfigurationError(f"{what} must be a date, a datetime or a 'YYYY-MM-DD' string, got {value!r}.")


# --- scenario runs -------------------------------------------------------------------------------


def run_scenario(project_key: str, scenario_id: str, params: dict[str, Any] | None = None) -> ApiRequest:
    """POST run: fires the scenario's manual trigger; answers a trigger fire, not a run."""
    base, target = _scenario(project_key, scenario_id)
    body = check_json_object(params, "trigger_params")
    return ApiRequest("run", "POST", f"{base}/run", target, body=body, has_body=True, retry_safe=False)


def abort_scenario(project_key: str, scenario_id: str) -> ApiRequest:
    """Abort whatever run the scenario currently has (may be someone else's: prefer abort_future)."""
    base, target = _scenario(project_key, scenario_id)
    return ApiRequest("abort", "POST", f"{base}/abort", target)


def get_trigger_fire(project_key: str, scenario_id: str, trigger_id: str, trigger_run_id: str) -> ApiRequest:
    """A trigger fire: ``{"trigger": ..., "runId": ..., "cancelled": ...}``."""
    k = check_id(project_key, "project_key")
    s = check_id(scenario_id, "scenario_id")
    t = check_id(trigger_id, "trigger_id")
    tr = check_id(trigger_run_id, "trigger_run_id")
    target = DSSTarget(project_key=k, scenario_id=s, trigger_id=t, trigger_run_id=tr)
    path = f"/projects/{_seg(k)}/scenarios/trigger/{_seg(s)}/{_seg(t)}"
    return ApiRequest("trigger_fire", "GET", path, target, query=(("triggerRunId", tr),))


def get_run_for_trigger(
    project_key: str, scenario_id: str, trigger_id: str, trigger_run_id: str
) -> ApiRequest:
    """The scenario run a trigger fire started: ``{"scenarioRun": ...}``, or ``{}`` while there is none."""
    base, target = _scenario(project_key, scenario_id)
    t = check_id(trigger_id, "trigger_id")
    tr = check_id(trigger_run_id, "trigger_run_id")
    target = DSSTarget(
        project_key=target.project_key, scenario_id=target.scenario_id, trigger_id=t, trigger_run_id=tr
    )
    query = (("triggerId", t), ("triggerRunId", tr))
    return ApiRequest("get_run_for_trigger", "GET", f"{base}/get-run-for-trigger", target, query=query)


def get_run_details(project_key: str, scenario_id: str, run_id: str) -> ApiRequest:
    """Run details: ``{"scenarioRun": ..., "stepRuns": [...]}``."""
    base, target = _run(project_key, scenario_id, run_id)
    return ApiRequest("run_details", "GET", f"{base}/", target)


def get_last_runs(
    project_key: str, scenario_id: str, limit: int = 10, only_finished_runs: bool = False
) -> ApiRequest:
    """The scenario's last ``limit`` runs, newest first (only finished ones if asked)."""
    base, target = _scenario(project_key, scenario_id)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise DSSConfigurationError(f"limit must be a positive integer, got {limit!r}.")
    query = (("limit", str(limit)), ("onlyFinishedRuns", _bool(only_finished_runs)))
    return ApiRequest("last_runs", "GET", f"{base}/get-last-runs", target, query=query)


def get_runs_by_date(
    project_key: str, scenario_id: str, from_date: date | datetime | str, to_date: date | datetime | str
) -> ApiRequest:
    """The scenario's runs between two dates."""
    base, target = _scenario(project_key, scenario_id)
    query = (("fromDate", _date(from_date, "from_date")), ("toDate", _date(to_date, "to_date")))
    return ApiRequest("runs_by_date", "GET", f"{base}/get-runs-by-date", target, query=query)


def get_run_log(project_key: str, scenario_id: str, run_id: str, step_id: str | None = None) -> ApiRequest:
    """The log of a run (of one step with ``step_id``), as text."""
    base, target = _run(project_key, scenario_id, run_id)
    query: tuple[tuple[str, str], ...] = ()
    if step_id is not None:
        query = (("stepId", check_id(step_id, "step_id")),)
        target = DSSTarget(target.project_key, target.scenario_id, target.run_id, step_id=step_id)
    return ApiRequest("log", "GET", f"{base}/log", target, query=query, response="text")


def get_run_report(project_key: str, scenario_id: str, run_id: str) -> ApiRequest:
    """The JUnit XML report of a test run, as bytes."""
    base, target = _run(project_key, scenario_id, run_id)
    return ApiRequest("report", "GET", f"{base}/scenario-run-report", target, response="bytes")


def get_step_run_report(project_key: str, scenario_id: str, run_id: str, step_id: str) -> ApiRequest:
    """The JUnit XML report of one step of a test run, as bytes."""
    base, target = _run(project_key, scenario_id, run_id)
    s = check_id(step_id, "step_id")
    target = DSSTarget(target.project_key, target.scenario_id, target.run_id, step_id=s)
    query = (("stepId", s),)
    return ApiRequest("step_report", "GET", f"{base}/step-run-report", target, query=query, response="bytes")


# --- scenario definition and status -------------------------------------------------------------


def get_light_status(project_key: str, scenario_id: str) -> ApiRequest:
    """The scenario's light status: ``{"running": ..., "nextRun": ...}``."""
    base, target = _scenario(project_key, scenario_id)
    return ApiRequest("light", "GET", f"{base}/light", target)


def set_light_status(project_key: str, scenario_id: str, definition: dict[str, Any]) -> ApiRequest:
    """Save the scenario's light settings (``definition``)."""
    base, target = _scenario(project_key, scenario_id)
    body = check_json_object(definition, "definition")
    return ApiRequest("set_light", "PUT", f"{base}/light", target, body=body, has_body=True)


def get_settings(project_key: str, scenario_id: str) -> ApiRequest:
    """The scenario's raw settings."""
    base, target = _scenario(project_key, scenario_id)
    return ApiRequest("settings", "GET", base, target)


def save_settings(project_key: str, scenario_id: str, settings: dict[str, Any]) -> ApiRequest:
    """Save the scenario's raw settings."""
    base, target = _scenario(project_key, scenario_id)
    body = check_json_object(settings, "settings")
    return ApiRequest("save_settings", "PUT", base, target, body=body, has_body=True)


def get_payload(project_key: str, scenario_id: str, extension: str = "py") -> ApiRequest:
    """The script of a Python scenario: ``{"script": ...}``."""
    base, target = _scenario(project_key, scenario_id)
    body = {"extension": extension}
    return ApiRequest("payload", "GET", f"{base}/payload", target, body=body, has_body=True)


def set_payload(project_key: str, scenario_id: str, script: str, extension: str | None = "py") -> ApiRequest:
    """Save the script of a Python scenario."""
    base, target = _scenario(project_key, scenario_id)
    if not isinstance(script, str):
        raise DSSConfigurationError(f"script must be a string, got {type(script).__name__}.")
    body: dict[str, Any] = {"script": script}
    if extension is not None:
        body["extension"] = extension
    return ApiRequest("set_payload", "PUT", f"{base}/payload", target, body=body, has_body=True)


def delete_scenario(project_key: str, scenario_id: str) -> ApiRequest:
    """Delete the scenario."""
    base, target = _scenario(project_key, scenario_id)
    return ApiRequest("delete", "DELETE", base, target)


# --- project level -------------------------------------------------------------------------------


def _project(project_key: str) -> tuple[str, DSSTarget]:
    k = check_id(project_key, "project_key")
    return f"/projects/{_seg(k)}", DSSTarget(project_key=k)


def list_scenarios(project_key: str) -> ApiRequest:
    """The project's scenarios, as list items."""
    base, target = _project(project_key)
    return ApiRequest("list_scenarios", "GET", f"{base}/scenarios/", target)


def create_scenario(
    project_key: str, name: str, scenario_type: str, definition: dict[str, Any] | None = None
) -> ApiRequest:
    """Create a scenario (``step_based`` or ``custom_python``) from an optional definition."""
    base, target = _project(project_key)
    if not isinstance(name, str) or not name.strip():
        raise DSSConfigurationError(f"name must be a non-empty string, got {name!r}.")
    if scenario_type not in ("step_based", "custom_python"):
        raise DSSConfigurationError(f"type must be 'step_based' or 'custom_python', got {scenario_type!r}.")
    body = dict(check_json_object(definition, "definition") or {"params": {}})
    body.setdefault("params", {})
    body["type"] = scenario_type
    body["name"] = name
    return ApiRequest("create_scenario", "POST", f"{base}/scenarios/", target, body=body, has_body=True)


def get_testing_status(project_key: str, bundle_id: str | None = None) -> ApiRequest:
    """The project's test scenario results (of one bundle with ``bundle_id``)."""
    base, target = _project(project_key)
    query = (("bundleId", bundle_id),) if bundle_id else ()
    return ApiRequest("testing_status", "GET", f"{base}/scenarios/testing-status", target, query=query)


def list_discussions(project_key: str, scenario_id: str) -> ApiRequest:
    """The scenario's discussions."""
    base, target = _discussions(project_key, scenario_id)
    return ApiRequest("list_discussions", "GET", f"{base}/", target)


def create_discussion(project_key: str, scenario_id: str, topic: str, message: str) -> ApiRequest:
    """Open a discussion on the scenario with a first message."""
    base, target = _discussions(project_key, scenario_id)
    body = {"topic": topic, "reply": message}
    return ApiRequest("create_discussion", "POST", f"{base}/", target, body=body, has_body=True)


def get_discussion(project_key: str, scenario_id: str, discussion_id: str) -> ApiRequest:
    """One discussion of the scenario, with its replies."""
    base, target = _discussions(project_key, scenario_id)
    d = check_id(discussion_id, "discussion_id")
    return ApiRequest("discussion", "GET", f"{base}/{_seg(d)}", target)


def update_discussion(
    project_key: str, scenario_id: str, discussion_id: str, data: dict[str, Any]
) -> ApiRequest:
    """Save a discussion's metadata."""
    base, target = _discussions(project_key, scenario_id)
    d = check_id(discussion_id, "discussion_id")
    body = check_json_object(data, "discussion")
    return ApiRequest("update_discussion", "PUT", f"{base}/{_seg(d)}", target, body=body, has_body=True)


def add_discussion_reply(project_key: str, scenario_id: str, discussion_id: str, text: str) -> ApiRequest:
    """Add a reply to a discussion."""
    base, target = _discussions(project_key, scenario_id)
    d = check_id(discussion_id, "discussion_id")
    body = {"reply": text}
    path = f"{base}/{_seg(d)}/replies/"
    return ApiRequest("discussion_reply", "POST", path, target, body=body, has_body=True, retry_safe=False)


def _discussions(project_key: str, scenario_id: str) -> tuple[str, DSSTarget]:
    k = check_id(project_key, "project_key")
    s = check_id(scenario_id, "scenario_id")
    return f"/projects/{_seg(k)}/discussions/SCENARIO/{_seg(s)}", DSSTarget(project_key=k, scenario_id=s)


# --- instance level ------------------------------------------------------------------------------


def list_projects() -> ApiRequest:
    """The cheapest authenticated call; used by ``test_connection``."""
    return ApiRequest("list_projects", "GET", "/projects/", DSSTarget())


def create_project(project_key: str, name: str, owner: str, description: str | None = None) -> ApiRequest:
    """Create a project."""
    k = check_id(project_key, "project_key")
    body: dict[str, Any] = {"projectKey": k, "name": name, "owner": owner}
    if description is not None:
        body["shortDesc"] = description
    return ApiRequest(
        "create_project", "POST", "/projects/", DSSTarget(project_key=k), body=body, has_body=True
    )


def list_running_scenario_futures(all_users: bool = False) -> ApiRequest:
    """The scenario futures (running runs) of the caller, or of every user with ``all_users``."""
    query = (("withScenarios", "True"), ("withNotScenarios", "False"), ("allUsers", _bool(all_users)))
    return ApiRequest("futures", "GET", "/futures/", DSSTarget(), query=query)


def abort_future(job_id: str, target: DSSTarget | None = None) -> ApiRequest:
    """Abort one future: the precise way to abort one scenario run."""
    j = check_id(job_id, "future id")
    return ApiRequest("abort_future", "DELETE", f"/futures/{_seg(j)}", target or DSSTarget(), response="text")
