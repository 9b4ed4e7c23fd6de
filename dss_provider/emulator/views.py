"""DSS-shaped JSON and text views of the model at a given instant (pure functions, no HTTP)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from dss_provider.emulator.engine import to_ms
from dss_provider.emulator.state import Fire, JsonDict, Run, Scenario, StepPlan, worst
from dss_provider.emulator.temporal import next_run_ms


def render_fire(fire: Fire) -> JsonDict:
    """A trigger fire (answer of POST run and of the trigger-fire GET)."""
    return {
        "projectKey": fire.project_key,
        "scenarioId": fire.scenario_id,
        "trigger": dict(fire.trigger),
        "runId": fire.trigger_run_id,
        "timestamp": to_ms(fire.timestamp),
        "cancelled": fire.cancelled,
        "params": fire.params,
        "triggerAuthCtx": fire.auth_ctx,
    }


def _thrown(message: str, title: str = "Step failed") -> JsonDict:
    return {
        "clazz": "com.dataiku.dip.exceptions.DKUException",
        "title": title,
        "message": message,
        "stack": "",
        "code": "ERR_SCENARIO_STEP_FAILED",
        "fixability": "USER_CONFIG_OR_SETTINGS",
    }


def _step_message(plan: StepPlan) -> str:
    return plan.script.message or f"Step '{plan.name}' failed"


@dataclass
class StepView:
    """A step as seen at one instant: done (``outcome`` set) or running (``outcome`` None)."""

    plan: StepPlan
    end: float
    outcome: str | None


def visible_steps(run: Run, now: float) -> Iterator[StepView]:
    """Started steps only; the running one has ``outcome`` None."""
    ab = run.aborted_at
    for st in run.steps:
        if ab is not None:
            if st.end <= ab:
                yield StepView(st, st.end, st.script.outcome)
            elif st.start < ab:
                yield StepView(st, ab, "ABORTED")
            else:
                return
        else:
            if st.start > now:
                return
            if st.end <= now:
                yield StepView(st, st.end, st.script.outcome)
            else:
                yield StepView(st, st.end, None)


def render_run(run: Run) -> JsonDict:
    """A scenario run; ``result`` only once finished."""
    out: JsonDict = {
        "runId": run.run_id,
        "start": to_ms(run.start),
        "end": to_ms(run.end) if run.finished else 0,
        "scenario": dict(run.scenario_summary),
        "trigger": render_fire(run.fire),
        "futureId": None if run.finished else run.future_id,
        "runAsUser": run.fire.auth_ctx.get("realUserLogin", "admin"),
        "variables": {},
    }
    if run.finished:
        result: JsonDict = {
            "outcome": run.outcome,
            "type": "SCENARIO_DONE",
            "target": {"type": "SCENARIO", "projectKey": run.project_key, "scenarioId": run.scenario_id},
            "start": to_ms(run.start),
            "end": to_ms(run.end),
        }
        for view in visible_steps(run, run.end):
            if view.outcome == "FAILED":
                result["thrown"] = _thrown(_step_message(view.plan))
                break
        out["result"] = result
    return out


def render_step_run(run: Run, view: StepView) -> JsonDict:
    """One step run in DSS's wire form."""
    plan = view.plan
    out: JsonDict = {
        "runId": plan.step_run_id,
        "step": plan.definition,
        "start": to_ms(plan.start),
        "end": 0 if view.outcome is None else to_ms(view.end),
        "additionalReportItems": [],
    }
    if view.outcome is None:
        return out
    thrown = _thrown(_step_message(plan)) if view.outcome == "FAILED" else None
    out["result"] = {
        "outcome": view.outcome,
        "type": "STEP_DONE",
        "target": {
            "type": "SCENARIO_STEP",
            "projectKey": run.project_key,
            "scenarioId": run.scenario_id,
            "stepId": plan.step_id,
        },
        "start": to_ms(plan.start),
        "end": to_ms(view.end),
    }
    if view.outcome == "WARNING":
        out["result"]["warnings"] = {
            "warnings": [{"message": plan.script.message or "Step ended with warnings"}]
        }
    if thrown is not None:
        out["result"]["thrown"] = thrown
    for job_id in plan.job_ids:
        item: JsonDict = {"type": "JOB_EXECUTED", "jobId": job_id, "outcome": view.outcome}
        if thrown is not None:
            item["thrown"] = thrown
        out["additionalReportItems"].append(item)
    return out


def render_details(run: Run, now: float) -> JsonDict:
    """Run details: ``{scenarioRun, stepRuns}``."""
    return {
        "scenarioRun": render_run(run),
        "stepRuns": [render_step_run(run, v) for v in visible_steps(run, now)],
    }


def render_light(sc: Scenario, now: float) -> JsonDict:
    """GET /light: status of a scenario."""
    s = sc.settings
    triggers = [t for t in s.get("triggers", []) if isinstance(t, dict)]
    out: JsonDict = {
        "projectKey": sc.project_key,
        "id": sc.id,
        "name": s.get("name", sc.id),
        "type": s.get("type", "step_based"),
        "active": bool(s.get("active", False)),
        "markedAsTest": sc.marked_as_test,
        "tags": list(s.get("tags", [])),
        "description": s.get("description", ""),
        "shortDesc": s.get("shortDesc", ""),
        "checklists": copy.deepcopy(s.get("checklists", {"checklists": []})),
        "unavailable": False,
        "automationLocal": False,
        "running": sc.current is not None,
        "nextRun": next_run_ms(s, now),
        "triggerDigest": ", ".join(
            str(t.get("name", t.get("type", ""))) for t in triggers if t.get("active")
        ),
        "triggerDigestItems": [
            {"type": t.get("type"), "name": t.get("name"), "active": bool(t.get("active"))} for t in triggers
        ],
        "reporterDigestItems": [],
        "createdOn": s.get("creationTag", {}).get("lastModifiedOn", 0),
        "lastModifiedOn": s.get("versionTag", {}).get("lastModifiedOn", 0),
    }
    if sc.current is not None:
        out["start"] = to_ms(sc.current.start)
        out["futureId"] = sc.current.future_id
    return out


def render_list_item(sc: Scenario) -> JsonDict:
    """A scenario as an item of DSS's scenario list."""
    s = sc.settings
    return {
        "id": sc.id,
        "name": s.get("name", sc.id),
        "projectKey": sc.project_key,
        "type": s.get("type", "step_based"),
        "active": bool(s.get("active", False)),
        "markedAsTest": sc.marked_as_test,
        "tags": list(s.get("tags", [])),
        "running": sc.current is not None,
        "start": to_ms(sc.current.start) if sc.current is not None else 0,
    }


def render_future(run: Run, now: float) -> JsonDict:
    """A running scenario as listed by GET /futures/."""
    return {
        "jobId": run.future_id,
        "payload": {
            "type": "scenario",
            "projectKey": run.project_key,
            "scenarioId": run.scenario_id,
            "runId": run.run_id,
            "triggerRunId": run.fire.trigger_run_id,
        },
        "jobDisplayName": f"Scenario {run.project_key}.{run.scenario_id}",
        "owner": run.fire.auth_ctx.get("realUserLogin", "admin"),
        "startTime": to_ms(run.start),
        "runningTime": max(0, to_ms(now) - to_ms(run.start)),
        "alive": True,
        "aborted": False,
        "hasResult": False,
        "progress": {"states": []},
    }


def testing_status(scenarios: list[Scenario]) -> JsonDict:
    """Combine the last finished run of each test scenario."""
    per_outcome = {"SUCCESS": 0, "WARNING": 0, "FAILED": 0, "ABORTED": 0}
    total, overall, items = 0, None, []
    for sc in scenarios:
        if not sc.marked_as_test or not sc.finished_order:
            continue
        run = sc.runs[sc.finished_order[-1]]
        total += 1
        per_outcome[run.outcome] = per_outcome.get(run.outcome, 0) + 1
        overall = run.outcome if overall is None else worst(overall, run.outcome)
        items.append(
            {"scenarioId": sc.id, "runId": run.run_id, "outcome": run.outcome, "end": to_ms(run.end)}
        )
    return {
        "nbTotalRanScenarios": total,
        "nbScenariosPerOutcome": per_outcome,
        "outcome": overall,
        "lastRuns": items,
    }


# -- logs ----------------------------------------------------------------------------------------
def _stamp(t: float) -> str:
    ms = to_ms(t)
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return f"[{dt:%Y-%m-%d %H:%M:%S},{ms % 1000:03d}]"


def _line(t: float, level: str, logger: str, text: str) -> str:
    return f"{_stamp(t)} [{level}] [{logger}] - {text}\n"


def _filler(size: int) -> str:
    unit = "emulator filler log line: lorem ipsum dolor sit amet, consectetur adipiscing elit\n"
    return (unit * (size // len(unit) + 1))[:size]


def _step_lines(run: Run, view: StepView, now: float) -> Iterator[tuple[float, str]]:
    st = view.plan
    logger = f"dku.scenario.step.{st.step_id}"
    yield (
        st.start,
        _line(st.start, "INFO", logger, f"Run step {st.name} (type {st.type}, step run {st.step_run_id})"),
    )
    for job_id in st.job_ids:
        yield st.start, _line(st.start, "INFO", logger, f"Started job {job_id}")
    span = st.end - st.start
    for pct in (25, 50, 75):
        t = st.start + span * pct / 100
        if t >= view.end or t > now:
            break
        yield t, _line(t, "INFO", logger, f"Step {st.name} progress: {pct}%")
        if pct == 50:
            for text in st.script.log.splitlines():
                yield t, _line(t, "INFO", logger, text)
            if st.script.log_size:
                yield t, _filler(st.script.log_size)
    if view.outcome is None:
        return
    if view.outcome == "FAILED":
        yield view.end, _line(view.end, "ERROR", logger, f"Step {st.name} failed: {_step_message(st)}")
    elif view.outcome == "ABORTED":
        yield view.end, _line(view.end, "WARN", logger, f"Step {st.name} aborted")
    yield view.end, _line(view.end, "INFO", logger, f"Step {st.name} finished with outcome {view.outcome}")


def render_log(run: Run, now: float, step_id: str | None = None) -> str:
    """The run log as of ``now``; scoped to one step when ``step_id`` is given."""
    parts: list[str] = []
    if step_id is None:
        parts.append(
            _line(
                run.start,
                "INFO",
                "dku.scenario",
                f"Scenario {run.project_key}.{run.scenario_id} run {run.run_id} "
                f"started by trigger {run.fire.trigger.get('id')} (trigger run {run.fire.trigger_run_id})",
            )
        )
    for view in visible_steps(run, now):
        if step_id is None or view.plan.step_id == step_id:
            parts.extend(text for _, text in _step_lines(run, view, now))
    if step_id is None and run.finished:
        if run.aborted_at is not None:
            parts.append(_line(run.end, "WARN", "dku.scenario", "Scenario run aborted"))
        parts.append(
            _line(run.end, "INFO", "dku.scenario", f"Scenario run finished with outcome {run.outcome}")
        )
    return "".join(parts)
