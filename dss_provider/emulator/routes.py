"""The DSS public API routes of the emulator: one small handler per endpoint.

Handlers are synchronous, run under the engine lock, and return either a JSON-able object
(answered as 200 JSON) or a :class:`Reply`. ``ROUTES`` lists ``(method, path, route name,
handler)``; paths are relative to ``/public/api/`` or ``/dip/publicapi/``. Route names are used
by fault rules and request counters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from starlette.datastructures import QueryParams

from dss_provider.emulator.engine import Engine
from dss_provider.emulator.reports import last_runs_report, run_report
from dss_provider.emulator.state import ApiKey, BadRequest, JsonDict, NotFound, Run, Scenario
from dss_provider.emulator.views import (
    render_details,
    render_fire,
    render_future,
    render_light,
    render_list_item,
    render_log,
    render_run,
    testing_status,
)


@dataclass
class Reply:
    """A non-JSON (or non-200) answer."""

    body: bytes
    media_type: str = "application/json"
    status: int = 200


@dataclass
class Ctx:
    """Everything a handler needs about one request."""

    engine: Engine
    key: ApiKey
    params: dict[str, str]
    query: QueryParams
    raw_body: bytes
    now: float
    _json: Any = field(default=None, init=False)

    def json(self, default: Any = None) -> Any:
        """The body parsed as JSON whatever the Content-Type; ``default`` when empty."""
        if not self.raw_body.strip():
            return default
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("Malformed JSON body", f"The request body is not valid JSON: {exc}") from None

    def object_body(self, default: Any = None) -> JsonDict:
        """The JSON body, which must be an object (400 otherwise)."""
        body = self.json(default)
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object")
        return body

    def flag(self, name: str, default: bool) -> bool:
        """A boolean query parameter (``default`` when absent, 400 when not a boolean)."""
        value = self.query.get(name)
        if value is None or value == "":
            return default
        low = value.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise BadRequest(f"Invalid boolean for '{name}'", f"Query parameter {name} must be true or false")

    def integer(self, name: str, default: int) -> int:
        """A non-negative integer query parameter (``default`` when absent, 400 otherwise)."""
        value = self.query.get(name)
        if value is None or value == "":
            return default
        try:
            n = int(value)
        except ValueError:
            raise BadRequest(f"Invalid integer for '{name}'") from None
        if n < 0:
            raise BadRequest(f"'{name}' must be >= 0")
        return n

    def required(self, name: str) -> str:
        """A query parameter that must be given (400 otherwise)."""
        value = self.query.get(name)
        if not value:
            raise BadRequest(f"Missing query parameter '{name}'")
        return value

    @property
    def now_ms(self) -> int:
        """The request's time, in epoch milliseconds."""
        return int(self.now * 1000)

    def scenario(self) -> Scenario:
        """The scenario of the path (``K``, ``S``) as the caller's key may see it."""
        return self.engine.scenario(self.key, self.params["K"], self.params["S"])

    def run(self) -> tuple[Scenario, Run]:
        """The scenario and run of the path (``K``, ``S``, ``R``)."""
        sc = self.scenario()
        return sc, self.engine.run(sc, self.params["R"])


def _xml(data: bytes) -> Reply:
    return Reply(data, "application/xml")


# -- projects ------------------------------------------------------------------------------------
def list_projects(c: Ctx) -> Any:
    return [p.as_list_item() for p in c.engine.catalog.projects.values() if c.key.can_access(p.key)]


def create_project(c: Ctx) -> Any:
    project = c.engine.catalog.create_project(c.key, c.object_body())
    return {"msg": f"Created project {project.key}", "projectKey": project.key}


# -- scenarios -----------------------------------------------------------------------------------
def _project_scenarios(c: Ctx) -> list[Scenario]:
    project = c.engine.catalog.project(c.key, c.params["K"])
    for sc in project.scenarios.values():
        c.engine.advance(sc, c.now)
    return list(project.scenarios.values())


def list_scenarios(c: Ctx) -> Any:
    return [render_list_item(sc) for sc in _project_scenarios(c)]


def create_scenario(c: Ctx) -> Any:
    project = c.engine.catalog.project(c.key, c.params["K"])
    sc = c.engine.catalog.create_scenario(project, c.object_body(), c.now_ms, c.key.user)
    return sc.settings


def get_testing_status(c: Ctx) -> Any:
    return {"projectKey": c.params["K"], **testing_status(_project_scenarios(c))}


def last_test_report(c: Ctx) -> Any:
    return _xml(last_runs_report(_project_scenarios(c), c.now))


def get_settings(c: Ctx) -> Any:
    return c.scenario().settings


def save_settings(c: Ctx) -> Any:
    return c.engine.catalog.save_settings(c.scenario(), c.object_body(), c.now_ms, c.key.user)


def delete_scenario(c: Ctx) -> Any:
    c.engine.delete_scenario(c.key, c.params["K"], c.params["S"])
    return {"msg": f"Scenario {c.params['K']}.{c.params['S']} deleted"}


def get_light(c: Ctx) -> Any:
    return render_light(c.scenario(), c.now)


def save_light(c: Ctx) -> Any:
    return c.engine.catalog.save_light(c.scenario(), c.object_body())


def get_payload(c: Ctx) -> Any:
    return dict(c.scenario().payload)


def save_payload(c: Ctx) -> Any:
    return c.engine.catalog.save_payload(c.scenario(), c.object_body())


# -- runs ----------------------------------------------------------------------------------------
def run(c: Ctx) -> Any:
    sc = c.scenario()
    params = c.json({})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadRequest(
            "Run parameters must be a JSON object", "The body of POST run is the trigger params object"
        )
    return render_fire(c.engine.fire(sc, params, c.key))


def abort(c: Ctx) -> Any:
    sc = c.engine.catalog.scenario(c.key, c.params["K"], c.params["S"])
    aborted = c.engine.abort(sc)
    return {"msg": "Abort requested" if aborted else "Scenario is not running", "aborted": aborted}


def trigger_fire(c: Ctx) -> Any:
    sc = c.scenario()
    return render_fire(c.engine.fire_of(sc, c.params["T"], c.required("triggerRunId")))


def get_run_for_trigger(c: Ctx) -> Any:
    sc = c.scenario()
    fire = c.engine.fire_of(sc, c.required("triggerId"), c.required("triggerRunId"))
    if fire.run_id is None or fire.run_id not in sc.runs:
        return {}
    return {"scenarioRun": render_run(sc.runs[fire.run_id])}


def last_runs(c: Ctx) -> Any:
    sc = c.scenario()
    limit = c.integer("limit", 10)
    only_finished = c.flag("onlyFinishedRuns", False)
    out: list[JsonDict] = []
    for r in reversed(sc.runs.values()):
        if len(out) >= limit:
            break
        if only_finished and not r.finished:
            continue
        out.append(render_run(r))
    return out


def _day(c: Ctx, name: str, default: date | None) -> float:
    raw = c.query.get(name)
    if not raw:
        if default is None:
            raise BadRequest(f"Missing query parameter '{name}'")
        day = default
    else:
        try:
            day = date.fromisoformat(raw[:10])
        except ValueError:
            raise BadRequest(f"Invalid date for '{name}'", f"{name} must be formatted YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


def runs_by_date(c: Ctx) -> Any:
    sc = c.scenario()
    lo, hi = _day(c, "fromDate", None), _day(c, "toDate", date(9999, 12, 31))
    return [render_run(r) for r in reversed(sc.runs.values()) if lo <= r.start < hi]


def run_details(c: Ctx) -> Any:
    _, r = c.run()
    return render_details(r, c.now)


def _step_id(c: Ctx, sc: Scenario, r: Run) -> str | None:
    """The ``stepId`` query parameter, checked against the scenario's and the run's steps."""
    step_id = c.query.get("stepId") or None
    if step_id is not None:
        steps = (sc.settings.get("params") or {}).get("steps") or []
        known = {s.get("id") for s in steps if isinstance(s, dict)} | {s.step_id for s in r.steps}
        if step_id not in known:
            raise NotFound(f"Step does not exist: {step_id}", f"Scenario {sc.full_id} has no step {step_id}")
    return step_id


def log(c: Ctx) -> Any:
    sc, r = c.run()
    return Reply(render_log(r, c.now, _step_id(c, sc, r)).encode(), "text/plain; charset=utf-8")


def _require_test(sc: Scenario) -> None:
    if not sc.marked_as_test:
        raise BadRequest(
            f"Scenario {sc.full_id} is not marked as a test",
            f"JUnit reports only exist for scenarios marked as test; {sc.full_id} has markedAsTest=false",
        )


def report(c: Ctx) -> Any:
    sc, r = c.run()
    _require_test(sc)
    return _xml(run_report(r, c.now))


def step_report(c: Ctx) -> Any:
    sc, r = c.run()
    _require_test(sc)
    return _xml(run_report(r, c.now, _step_id(c, sc, r)))


# -- discussions ---------------------------------------------------------------------------------
def discussions(c: Ctx) -> Any:
    return c.engine.catalog.list_discussions(c.scenario())


def create_discussion(c: Ctx) -> Any:
    return c.engine.catalog.create_discussion(c.scenario(), c.object_body(), c.key.user, c.now_ms)


def discussion(c: Ctx) -> Any:
    return c.engine.catalog.discussion(c.scenario(), c.params["D"])


def save_discussion(c: Ctx) -> Any:
    d = c.engine.catalog.discussion(c.scenario(), c.params["D"])
    return c.engine.catalog.save_discussion(d, c.object_body())


def add_reply(c: Ctx) -> Any:
    d = c.engine.catalog.discussion(c.scenario(), c.params["D"])
    return c.engine.catalog.add_reply(d, c.object_body(), c.key.user, c.now_ms)


# -- futures -------------------------------------------------------------------------------------
def futures(c: Ctx) -> Any:
    if not c.flag("withScenarios", True):
        return []
    return [render_future(r, c.now) for r in c.engine.running_runs(c.key)]


def future(c: Ctx) -> Any:
    for r in c.engine.running_runs(c.key):
        if r.future_id == c.params["J"]:
            return render_future(r, c.now)
    raise NotFound(f"Future does not exist: {c.params['J']}")


def abort_future(c: Ctx) -> Any:
    r = c.engine.abort_future(c.key, c.params["J"])
    return {"msg": f"Future {c.params['J']} aborted", "runId": r.run_id}


Handler = Callable[[Ctx], Any]
_SC = "projects/{K}/scenarios/{S}"
_DISC = "projects/{K}/discussions/SCENARIO/{S}"
ROUTES: list[tuple[str, str, str, Handler]] = [
    ("GET", "projects", "list_projects", list_projects),
    ("POST", "projects", "create_project", create_project),
    ("GET", "projects/{K}/scenarios", "list_scenarios", list_scenarios),
    ("POST", "projects/{K}/scenarios", "create_scenario", create_scenario),
    ("GET", "projects/{K}/scenarios/testing-status", "testing_status", get_testing_status),
    ("GET", "projects/{K}/scenarios/last-test-scenario-runs-report", "last_test_report", last_test_report),
    ("GET", "projects/{K}/scenarios/trigger/{S}/{T}", "trigger_fire", trigger_fire),
    ("GET", _SC, "settings", get_settings),
    ("PUT", _SC, "save_settings", save_settings),
    ("DELETE", _SC, "delete_scenario", delete_scenario),
    ("GET", f"{_SC}/light", "light", get_light),
    ("PUT", f"{_SC}/light", "save_light", save_light),
    ("GET", f"{_SC}/payload", "payload", get_payload),
    ("PUT", f"{_SC}/payload", "save_payload", save_payload),
    ("POST", f"{_SC}/run", "run", run),
    ("POST", f"{_SC}/abort", "abort", abort),
    ("GET", f"{_SC}/get-run-for-trigger", "get_run_for_trigger", get_run_for_trigger),
    ("GET", f"{_SC}/get-last-runs", "last_runs", last_runs),
    ("GET", f"{_SC}/get-runs-by-date", "runs_by_date", runs_by_date),
    ("GET", f"{_SC}/{{R}}", "run_details", run_details),
    ("GET", f"{_SC}/{{R}}/log", "log", log),
    ("GET", f"{_SC}/{{R}}/scenario-run-report", "report", report),
    ("GET", f"{_SC}/{{R}}/step-run-report", "step_report", step_report),
    ("GET", _DISC, "discussions", discussions),
    ("POST", _DISC, "create_discussion", create_discussion),
    ("GET", f"{_DISC}/{{D}}", "discussion", discussion),
    ("PUT", f"{_DISC}/{{D}}", "save_discussion", save_discussion),
    ("POST", f"{_DISC}/{{D}}/replies", "add_reply", add_reply),
    ("GET", "futures", "futures", futures),
    ("GET", "futures/{J}", "future", future),
    ("DELETE", "futures/{J}", "abort_future", abort_future),
]
ROUTE_NAMES = tuple(name for _, _, name, _ in ROUTES)
