"""Typed reading of DSS JSON (pure functions over dicts; no I/O).

DSS timestamps are epoch milliseconds, ``0`` meaning "none"; they become timezone-aware UTC datetimes.
A scenario run is finished when its JSON has a ``result``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from enum import Enum
from typing import Any, NamedTuple, TypedDict
from urllib.parse import quote


class RunOutcome(str, Enum):
    """Outcome of a scenario run or step run, from best to worst."""

    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @classmethod
    def parse(cls, value: object) -> RunOutcome:
        """The outcome ``value`` names (``ValueError`` naming the known ones if none)."""
        try:
            return cls(str(value).upper())
        except ValueError:
            allowed = ", ".join(o.value for o in cls)
            raise ValueError(f"unknown DSS outcome {value!r} (expected one of {allowed})") from None


def ms_to_datetime(value: object) -> datetime | None:
    """Epoch milliseconds to an aware UTC datetime; ``0``/``None``/missing mean no value."""
    if value is None or isinstance(value, bool):
        return None
    try:
        ms = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000.0, tz=timezone.utc)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of a datetime (None stays None)."""
    return value.isoformat() if value else None


def run_is_finished(run: dict[str, Any]) -> bool:
    """Whether a DSS run dict has its result."""
    return bool(run.get("result"))


def run_outcome(run: dict[str, Any]) -> str | None:
    """The run's outcome, or None while it runs (``UNKNOWN`` when DSS finished it without one)."""
    result = run.get("result")
    if not result:
        return None
    return str(result.get("outcome") or "UNKNOWN")


def run_duration(run: dict[str, Any], now: datetime | None = None) -> float | None:
    """Seconds from the run's start to its end (to ``now`` while it runs); None before it starts."""
    start = ms_to_datetime(run.get("start"))
    if start is None:
        return None
    end = ms_to_datetime(run.get("end")) or now or datetime.now(tz=timezone.utc)
    return max(0.0, (end - start).total_seconds())


def expected_duration(runs: list[dict[str, Any]], limit: int = 5) -> float | None:
    """Mean duration of the newest ``limit`` finished runs that ended SUCCESS or WARNING (newest first)."""
    finished = [r for r in runs if isinstance(r, dict) and run_is_finished(r)][:limit]
    good = [
        d
        for r in finished
        if (r.get("result") or {}).get("outcome") in (RunOutcome.SUCCESS.value, RunOutcome.WARNING.value)
        if (d := run_duration(r)) is not None
    ]
    return sum(good) / len(good) if good else None


def step_id(step_run: dict[str, Any]) -> str | None:
    """The id of a step run's step."""
    step = step_run.get("step") or {}
    target = (step_run.get("result") or {}).get("target") or {}
    return step.get("id") or target.get("stepId")


def step_outcome(step_run: dict[str, Any]) -> str | None:
    """The outcome of a step run (None while it runs)."""
    result = step_run.get("result")
    return str(result.get("outcome")) if result and result.get("outcome") else None


def step_job_ids(step_run: dict[str, Any]) -> list[str]:
    """The ids of the jobs a step run started."""
    items = step_run.get("additionalReportItems") or []
    return [str(i["jobId"]) for i in items if i.get("type") == "JOB_EXECUTED" and i.get("jobId")]


def step_first_error(step_run: dict[str, Any]) -> dict[str, Any] | None:
    """The step's error: ``result.thrown`` when it FAILED, else the first failed report item's."""
    result = step_run.get("result") or {}
    if result.get("outcome") == RunOutcome.FAILED.value and result.get("thrown"):
        return dict(result["thrown"])
    for item in step_run.get("additionalReportItems") or []:
        if item.get("outcome") == RunOutcome.FAILED.value and item.get("thrown"):
            return dict(item["thrown"])
    return None


def first_error_details(details: dict[str, Any]) -> dict[str, Any] | None:
    """The first step error of a run (with the step's id and name added), or the run's own error."""
    for step_run in details.get("stepRuns") or []:
        err = step_first_error(step_run)
        if err:
            step = step_run.get("step") or {}
            return {**err, "step_id": step_id(step_run), "step_name": step.get("name")}
    thrown = ((details.get("scenarioRun") or {}).get("result") or {}).get("thrown")
    return dict(thrown) if thrown else None


def step_warning(step_run: dict[str, Any]) -> str | None:
    """The first warning message of a step run, when DSS gave one."""
    warnings = ((step_run.get("result") or {}).get("warnings") or {}).get("warnings") or []
    for w in warnings:
        if isinstance(w, dict) and w.get("message"):
            return str(w["message"])
    return None


def first_warning(details: dict[str, Any]) -> str | None:
    """``step 'X' (id): <warning>`` for the first step of run details that ended WARNING."""
    for step_run in details.get("stepRuns") or []:
        if (step_run.get("result") or {}).get("outcome") == RunOutcome.WARNING.value:
            step = step_run.get("step") or {}
            message = step_warning(step_run) or "ended with warnings"
            return f"step {step.get('name') or step.get('id')!r} ({step.get('id')}): {message}"
    return None


def describe_error(err: dict[str, Any] | None) -> str:
    """One line: ``step 'Build' (build_1): java.io.IOException: disk full``."""
    if not err:
        return "DSS gave no error details"
    where = ""
    if err.get("step_id") or err.get("step_name"):
        where = f"step {err.get('step_name') or err.get('step_id')!r} ({err.get('step_id')}): "
    clazz = err.get("clazz") or "error"
    message = err.get("message") or err.get("title") or "no message"
    return f"{where}{clazz}: {message}"


class StepSummary(TypedDict):
    """One step of the run dict a run task returns (the public XCom contract)."""

    id: str | None
    name: str | None
    type: str | None
    outcome: str | None
    start: str | None
    end: str | None
    job_ids: list[str]
    error: dict[str, Any] | None


class RunSummary(TypedDict):
    """The dict every run task returns (the ``return_value`` XCom), in every mode."""

    project_key: str
    scenario_id: str
    trigger_id: str | None
    trigger_run_id: str | None
    run_id: str | None
    outcome: str | None
    start: str | None
    end: str | None
    duration: float | None
    url: str | None
    trigger_params: dict[str, Any]
    steps: list[StepSummary]


class StepFacts(NamedTuple):
    """What a step's :class:`StepSummary` is built from, as DSS gave it (timestamps in epoch ms).

    A tuple, so a waiting trigger keeps its last answer in a few hundred bytes and builds the summary only
    when an event needs it (:func:`step_summary`).
    """

    id: str | None
    name: str | None
    type: str | None
    outcome: str | None
    start: object
    end: object
    job_ids: tuple[str, ...]
    error: dict[str, Any] | None


def _shared(value: Any) -> Any:
    """``value``, interned when it is text: step ids, names and types repeat in every answer."""
    return sys.intern(value) if type(value) is str else value


def step_facts(step_run: dict[str, Any]) -> StepFacts:
    """The facts of a DSS step run."""
    step = step_run.get("step") or {}
    result = step_run.get("result") or {}
    return StepFacts(
        _shared(step_id(step_run)),
        _shared(step.get("name")),
        _shared(step.get("type")),
        step_outcome(step_run),
        step_run.get("start") or result.get("start"),
        step_run.get("end") or result.get("end"),
        tuple(step_job_ids(step_run)),
        step_first_error(step_run),
    )


def step_summary(facts: StepFacts) -> StepSummary:
    """The :class:`StepSummary` of a step's facts (a new dict each call)."""
    return StepSummary(
        id=facts.id,
        name=facts.name,
        type=facts.type,
        outcome=facts.outcome,
        start=iso(ms_to_datetime(facts.start)),
        end=iso(ms_to_datetime(facts.end)),
        job_ids=list(facts.job_ids),
        error=None if facts.error is None else dict(facts.error),
    )


def summarize_step(step_run: dict[str, Any]) -> StepSummary:
    """A DSS step run as a :class:`StepSummary`."""
    return step_summary(step_facts(step_run))


def run_url(base_url: str | None, project_key: str, scenario_id: str, run_id: str | None) -> str | None:
    """The DSS web page of a run (or of the scenario's run list when the run is not known yet)."""
    if not base_url:
        return None
    project, scenario = quote(project_key, safe=""), quote(scenario_id, safe="")
    page = f"{base_url.rstrip('/')}/projects/{project}/scenarios/{scenario}"
    return f"{page}/runs/list/{quote(run_id, safe='') if run_id else ''}"


class RunFacts(NamedTuple):
    """What a :class:`RunSummary` is built from: a fire, a run or run details, read once.

    Outcome and duration are decided when read (a finished run's duration without an end is measured
    to that moment); everything else is kept as DSS gave it and formatted by :func:`run_summary`.
    """

    run_id: str | None
    trigger_id: str | None
    trigger_run_id: str | None
    #: The fire's params (None when it gave none).
    params: Any
    outcome: str | None
    start: object
    end: object
    duration: float | None
    steps: tuple[StepFacts, ...]


def run_facts(
    *,
    fire: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    ids: dict[str, Any] | None = None,
) -> RunFacts:
    """The facts of what is known: a fire only, a run, or full run details (see :func:`summarize_run`)."""
    run = run or (details or {}).get("scenarioRun") or {}
    fire = fire or run.get("trigger") or {}
    ids = ids or {}
    return RunFacts(
        run.get("runId") or ids.get("run_id"),
        _shared((fire.get("trigger") or {}).get("id") or ids.get("trigger_id")),
        fire.get("runId") or ids.get("trigger_run_id"),
        fire.get("params") or None,
        run_outcome(run) if run else None,
        run.get("start"),
        run.get("end"),
        run_duration(run) if run_is_finished(run) else None,
        tuple([step_facts(s) for s in (details or {}).get("stepRuns") or ()]),
    )


def run_summary(
    facts: RunFacts,
    *,
    project_key: str,
    scenario_id: str,
    base_url: str | None,
    trigger_params: dict[str, Any] | None = None,
) -> RunSummary:
    """The run dict of ``facts`` (a new dict each call); ``trigger_params`` replace the fire's params."""
    params = trigger_params if trigger_params is not None else facts.params
    return RunSummary(
        project_key=project_key,
        scenario_id=scenario_id,
        trigger_id=facts.trigger_id,
        trigger_run_id=facts.trigger_run_id,
        run_id=facts.run_id,
        outcome=facts.outcome,
        start=iso(ms_to_datetime(facts.start)),
        end=iso(ms_to_datetime(facts.end)),
        duration=facts.duration,
        url=run_url(base_url, project_key, scenario_id, facts.run_id),
        trigger_params=dict(params or {}),
        steps=[step_summary(s) for s in facts.steps],
    )


def summarize_run(
    *,
    project_key: str,
    scenario_id: str,
    base_url: str | None,
    trigger_params: dict[str, Any] | None = None,
    fire: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    ids: dict[str, Any] | None = None,
) -> RunSummary:
    """Build the run dict from what is known: a fire only, a run, or full run details.

    ``ids`` (``trigger_id``, ``trigger_run_id``, ``run_id``, e.g. ``RunRef.as_dict()``) fill what DSS
    JSON does not give.
    """
    return run_summary(
        run_facts(fire=fire, details=details, run=run, ids=ids),
        project_key=project_key,
        scenario_id=scenario_id,
        base_url=base_url,
        trigger_params=trigger_params,
    )
