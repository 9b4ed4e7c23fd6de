"""The emulator's in-memory model: projects, scenarios, fires, runs, API keys and counters.

Nothing here speaks HTTP or reads the clock: time-dependent behaviour lives in
:mod:`dss_provider.emulator.engine`. Errors are raised as :class:`EmulatorError` subclasses,
which the HTTP layer turns into DSS-shaped error bodies.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TypeVar

OUTCOMES: tuple[str, ...] = ("SUCCESS", "WARNING", "FAILED", "ABORTED")
_OUTCOME_RANK = {name: rank for rank, name in enumerate(OUTCOMES)}
SCRIPTABLE_OUTCOMES = ("SUCCESS", "WARNING", "FAILED")
SCENARIO_TYPES = ("step_based", "custom_python")
DEFAULT_RUN_CONDITION_STATUSES = ("SUCCESS", "WARNING")

_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_PROJECT_KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,100}$")

JsonDict = dict[str, Any]


def worst(a: str, b: str) -> str:
    """Return the worse of two outcomes (SUCCESS < WARNING < FAILED < ABORTED)."""
    return a if _OUTCOME_RANK.get(a, 0) >= _OUTCOME_RANK.get(b, 0) else b


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------
class EmulatorError(Exception):
    """An error with an HTTP status and a DSS ``errorType``; rendered as a DSS error body."""

    status = 500
    error_type = "com.dataiku.dip.exceptions.CodedException"
    code = "ERR_MISC_INTERNAL"
    fixability = "NOT_FIXABLE"

    def __init__(self, message: str, detailed: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detailed = detailed or message
        if status is not None:
            self.status = status

    def body(self) -> JsonDict:
        """The DSS-shaped JSON error body."""
        return {
            "errorType": self.error_type,
            "message": self.message,
            "detailedMessage": self.detailed,
            "code": self.code,
            "fixability": self.fixability,
            "stackTraceStr": "",
        }


class NotFound(EmulatorError):
    """404: an unknown object."""

    status = 404
    error_type = "com.dataiku.dip.server.controllers.NotFoundException"
    code = "ERR_OBJECT_NOT_FOUND"
    fixability = "USER_CONFIG_OR_SETTINGS"


class Unauthorized(EmulatorError):
    """401: missing or unknown API key."""

    status = 401
    error_type = "com.dataiku.dip.exceptions.NotAuthenticatedException"
    code = "ERR_SECURITY_NOT_AUTHENTICATED"
    fixability = "USER_CONFIG_OR_SETTINGS"


class Forbidden(EmulatorError):
    """403: the key is valid but may not access the object."""

    status = 403
    error_type = "com.dataiku.dip.exceptions.UnauthorizedException"
    code = "ERR_SECURITY_UNAUTHORIZED"
    fixability = "ADMIN_SETTINGS_SECURITY"


class BadRequest(EmulatorError):
    """400: malformed or invalid request."""

    status = 400
    error_type = "java.lang.IllegalArgumentException"
    code = "ERR_BAD_REQUEST"
    fixability = "USER_CONFIG_OR_SETTINGS"


class PayloadTooLarge(BadRequest):
    """413: request body too large."""

    status = 413


def validate_id(value: str, what: str) -> str:
    """Reject ids with path traversal or illegal characters (400)."""
    if not isinstance(value, str) or not _ID_RE.match(value) or ".." in value:
        shown = value[:60] if isinstance(value, str) else type(value).__name__
        raise BadRequest(f"Illegal {what}", f"Illegal {what} {shown!r}: only letters, digits, '_', '-', '.'")
    return value


_Found = TypeVar("_Found")


def lookup(items: dict[str, _Found], item_id: str, what: str, missing: str) -> _Found:
    """``items[item_id]``: 400 when ``item_id`` is no valid ``what``, 404 (``missing``) when unknown."""
    validate_id(item_id, what)
    found = items.get(item_id)
    if found is None:
        raise NotFound(missing)
    return found


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------
@dataclass
class ApiKey:
    """An API key; ``projects`` is None for a global key, else the accessible project keys."""

    key: str
    projects: frozenset[str] | None = None
    label: str = "api-key"
    user: str = "admin"
    key_id: str = "main"

    def can_access(self, project_key: str) -> bool:
        """Whether this key may access the project ``project_key``."""
        return self.projects is None or project_key in self.projects

    def auth_ctx(self) -> JsonDict:
        """Caller identity as stored in a trigger fire (never the key value)."""
        return {
            "authSource": "PERSONAL_API_KEY",
            "realUserLogin": self.user,
            "userGroups": [],
            "via": [],
            "apiKey": {"id": self.key_id, "label": self.label, "user": self.user},
        }


@dataclass(frozen=True)
class StepScript:
    """Scripted behaviour of a step (``params.emulator``)."""

    duration: float = 1.0
    outcome: str = "SUCCESS"
    message: str = ""
    log: str = ""
    log_size: int = 0


def parse_script(raw: Any, where: str) -> StepScript:
    """Validate an ``emulator`` dict; raise BadRequest on wrong types or values."""
    if raw is None:
        return StepScript()
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: 'emulator' must be an object")
    duration = raw.get("duration", 1.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration <= 86400 * 7:
        raise BadRequest(f"{where}: emulator.duration must be a number of seconds between 0 and 604800")
    outcome = raw.get("outcome", "SUCCESS")
    if outcome not in SCRIPTABLE_OUTCOMES:
        raise BadRequest(f"{where}: emulator.outcome must be one of {', '.join(SCRIPTABLE_OUTCOMES)}")
    message = raw.get("message", "")
    log = raw.get("log", "")
    if not isinstance(message, str) or not isinstance(log, str):
        raise BadRequest(f"{where}: emulator.message and emulator.log must be strings")
    log_size = raw.get("log_size", 0)
    if isinstance(log_size, bool) or not isinstance(log_size, int) or not 0 <= log_size <= 512 * 1024 * 1024:
        raise BadRequest(f"{where}: emulator.log_size must be an integer number of bytes (<= 512 MiB)")
    return StepScript(float(duration), outcome, message, log, log_size)


@dataclass
class Fire:
    """A trigger fire (the answer to POST run)."""

    project_key: str
    scenario_id: str
    trigger_run_id: str
    trigger: JsonDict
    timestamp: float
    params: JsonDict
    planned_start: float
    auth_ctx: JsonDict
    cancelled: bool = False
    run_id: str | None = None


@dataclass
class StepPlan:
    """A step of a run, with its planned timing and outcome computed at run start.

    ``definition`` is a snapshot shared between runs: never mutate it.
    """

    index: int
    step_run_id: str
    definition: JsonDict
    step_id: str
    name: str
    type: str
    start: float
    end: float
    script: StepScript
    job_ids: list[str] = field(default_factory=list)


@dataclass
class Run:
    """A scenario run; its timeline is fully planned at start, abort cuts it short."""

    run_id: str
    project_key: str
    scenario_id: str
    scenario_summary: JsonDict
    fire: Fire
    start: float
    planned_end: float
    planned_outcome: str
    steps: list[StepPlan]
    future_id: str
    aborted_at: float | None = None
    finished: bool = False

    @property
    def end(self) -> float:
        """When the run ends (or ended): its abort time, else its planned end."""
        return self.aborted_at if self.aborted_at is not None else self.planned_end

    @property
    def outcome(self) -> str:
        """The run's outcome: ABORTED when aborted, else the scripted one."""
        return "ABORTED" if self.aborted_at is not None else self.planned_outcome


@dataclass
class ScenarioCounters:
    """Per-scenario counters exposed by ``stats()``."""

    fires_accepted: int = 0
    fires_cancelled: int = 0
    runs_started: int = 0
    runs_by_outcome: dict[str, int] = field(default_factory=dict)
    aborts_requested: int = 0
    future_aborts_requested: int = 0
    runs_aborted: int = 0
    time_trigger_fires: int = 0
    time_triggers_skipped: int = 0
    ui_fires: int = 0

    def as_dict(self) -> JsonDict:
        """The run in DSS's wire form."""
        return {
            "fires_accepted": self.fires_accepted,
            "fires_cancelled": self.fires_cancelled,
            "runs_started": self.runs_started,
            "runs_by_outcome": dict(self.runs_by_outcome),
            "aborts_requested": self.aborts_requested,
            "future_aborts_requested": self.future_aborts_requested,
            "runs_aborted": self.runs_aborted,
            "time_trigger_fires": self.time_trigger_fires,
            "time_triggers_skipped": self.time_triggers_skipped,
            "ui_fires": self.ui_fires,
        }


@dataclass
class Scenario:
    """A scenario: its settings, payload, discussions, fires and runs."""

    project_key: str
    id: str
    settings: JsonDict
    payload: JsonDict
    discussions: dict[str, JsonDict] = field(default_factory=dict)
    fires: dict[str, Fire] = field(default_factory=dict)
    pending: deque[Fire] = field(default_factory=deque)
    current: Run | None = None
    runs: dict[str, Run] = field(default_factory=dict)
    finished_order: deque[str] = field(default_factory=deque)
    cancelled_order: deque[str] = field(default_factory=deque)
    last_id_ms: int = 0
    plan_cache: tuple[str, list[tuple[JsonDict, StepScript]]] | None = None
    #: Time triggers: the last instant whose occurrences were handled (epoch seconds).
    time_checked: float | None = None

    @property
    def full_id(self) -> str:
        """``PROJECT.SCENARIO``."""
        return f"{self.project_key}.{self.id}"

    @property
    def marked_as_test(self) -> bool:
        """Whether the scenario is marked as a test scenario."""
        return bool(self.settings.get("markedAsTest", False))

    def summary(self) -> JsonDict:
        """The ``scenario`` object embedded in runs."""
        s = self.settings
        return {
            "projectKey": self.project_key,
            "id": self.id,
            "name": s.get("name", self.id),
            "type": s.get("type", "step_based"),
            "markedAsTest": bool(s.get("markedAsTest", False)),
            "active": bool(s.get("active", False)),
            "tags": list(s.get("tags", [])),
        }


@dataclass
class Project:
    """A DSS project."""

    key: str
    name: str
    owner: str = "admin"
    description: str = ""
    tags: list[str] = field(default_factory=list)
    settings: JsonDict = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def as_list_item(self) -> JsonDict:
        """The scenario as an item of DSS's scenario list."""
        return {
            "projectKey": self.key,
            "name": self.name,
            "owner": self.owner,
            "description": self.description,
            "shortDesc": "",
            "tags": list(self.tags),
        }


# ----------------------------------------------------------------------------------------------
# Settings normalisation
# ----------------------------------------------------------------------------------------------
def _version_tag(now_ms: int, user: str, number: int = 1) -> JsonDict:
    return {"versionNumber": number, "lastModifiedBy": {"login": user}, "lastModifiedOn": now_ms}


def _normalize_steps(steps: Any) -> None:
    """Fill in the defaults of a step-based scenario's steps; check them and their scripts."""
    if not isinstance(steps, list):
        raise BadRequest("params.steps must be a list")
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            raise BadRequest(f"params.steps[{i}] must be an object")
        step.setdefault("id", f"step_{i}")
        step.setdefault("name", step["id"])
        step.setdefault("type", "custom_python")
        step.setdefault("enabled", True)
        step.setdefault("runConditionType", "RUN_IF_STATUS_MATCH")
        step.setdefault("runConditionStatuses", list(DEFAULT_RUN_CONDITION_STATUSES))
        step.setdefault("params", {})
        if not isinstance(step["params"], dict):
            raise BadRequest(f"params.steps[{i}].params must be an object")
        if step["id"] in seen:
            raise BadRequest(f"Duplicate step id {str(step['id'])[:60]!r}")
        seen.add(str(step["id"]))
        parse_script(step["params"].get("emulator"), f"step {step['id']}")


def normalize_settings(
    project_key: str, scenario_id: str, raw: JsonDict, now_ms: int, user: str = "admin"
) -> JsonDict:
    """Build full raw settings from a (partial) definition; validate types and scripted steps."""
    if not isinstance(raw, dict):
        raise BadRequest("Scenario definition must be a JSON object")
    s = copy.deepcopy(raw)
    s.pop("script", None)
    stype = s.get("type", "step_based")
    if stype not in SCENARIO_TYPES:
        raise BadRequest(
            f"Unsupported scenario type {str(stype)[:40]!r}", "type must be step_based or custom_python"
        )
    name = s.get("name", scenario_id)
    if not isinstance(name, str):
        raise BadRequest("Scenario name must be a string")
    params = s.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest("Scenario 'params' must be an object")
    triggers = s.get("triggers") or []
    reporters = s.get("reporters") or []
    tags = s.get("tags") or []
    if not isinstance(triggers, list) or not all(isinstance(t, dict) for t in triggers):
        raise BadRequest("Scenario 'triggers' must be a list of objects")
    if not isinstance(reporters, list) or not isinstance(tags, list):
        raise BadRequest("Scenario 'reporters' and 'tags' must be lists")
    if stype == "step_based":
        _normalize_steps(params.setdefault("steps", []))
    else:
        parse_script(params.get("emulator"), "scenario params")
        params.setdefault("envSelection", {"envMode": "INHERIT"})
    for i, trig in enumerate(triggers):
        trig.setdefault("id", f"trigger_{i}_{trig.get('type', 'temporal')}")
        trig.setdefault("name", "Time-based" if trig.get("type") == "temporal" else str(trig.get("type", "")))
        trig.setdefault("delay", 0)
        trig.setdefault("active", True)
        trig.setdefault("params", {})
    s.update(
        projectKey=project_key,
        id=scenario_id,
        name=name,
        type=stype,
        active=bool(s.get("active", True)),
        markedAsTest=bool(s.get("markedAsTest", False)),
        params=params,
        triggers=triggers,
        reporters=reporters,
        tags=tags,
    )
    s.setdefault("description", "")
    s.setdefault("shortDesc", "")
    s.setdefault("checklists", {"checklists": []})
    s.setdefault("customFields", {})
    s.setdefault("creationTag", _version_tag(now_ms, user))
    s.setdefault("versionTag", _version_tag(now_ms, user))
    return s


def scenario_id_from_name(name: str, existing: set[str]) -> str:
    """DSS-like id from a name: upper-case alphanumerics; suffixed to be unique."""
    base = re.sub(r"[^A-Za-z0-9_]", "", name.upper().replace(" ", "_"))[:80] or "SCENARIO"
    candidate, n = base, 1
    while candidate in existing:
        candidate = f"{base}_{n}"
        n += 1
    return candidate


def validate_project_key(key: Any) -> str:
    """``key`` if it is a valid project key, else 400."""
    if not isinstance(key, str) or not _PROJECT_KEY_RE.match(key):
        raise BadRequest("Illegal project key", "A project key must be 1-100 letters, digits or '_'")
    return key
