"""How a finished run decides the task, and what the task log shows about it."""

from __future__ import annotations

from typing import Any

from dss_provider.api.models import RunOutcome, describe_error, first_error_details, run_outcome
from dss_provider.exceptions import DSSError, DSSScenarioRunFailed, DSSTarget
from dss_provider.hooks.dss import DSSHook
from dss_provider.operators._common import step_warning, tail


def first_warning(details: dict[str, Any]) -> str | None:
    """``step 'X' (id): <warning>`` for the first step that ended WARNING."""
    for step_run in details.get("stepRuns") or []:
        if (step_run.get("result") or {}).get("outcome") == RunOutcome.WARNING.value:
            step = step_run.get("step") or {}
            message = step_warning(step_run) or "ended with warnings"
            return f"step {step.get('name') or step.get('id')!r} ({step.get('id')}): {message}"
    return None


def log_failed_step_tail(
    log: Any, hook: DSSHook, target: DSSTarget, first_error: dict[str, Any] | None, lines: int
) -> None:
    """Copy the end of the failed step's log (else of the run's log) into the task log; best effort."""
    if lines <= 0 or not target.project_key or not target.scenario_id or not target.run_id:
        return
    step_id = (first_error or {}).get("step_id")
    try:
        text = hook.get_run_log(target.project_key, target.scenario_id, target.run_id, step_id)
    except DSSError as err:
        log.warning("Could not fetch the DSS log of %s: %s", target.describe(), err)
        return
    kept, cut = tail(text, lines)
    what = f"step {step_id}" if step_id else "the run"
    more = f"last {lines} lines" if cut else "whole log"
    log.error("DSS log of %s of %s (%s):\n%s", what, target.describe(), more, kept or "(empty)")


def check_outcome(
    *,
    log: Any,
    hook: DSSHook,
    target: DSSTarget,
    details: dict[str, Any],
    summary: dict[str, Any],
    fail_on_warning: bool,
    log_tail_lines: int,
    url: str | None,
) -> None:
    """SUCCESS passes; WARNING passes (with a warning) unless ``fail_on_warning``; the rest raise."""
    run = details.get("scenarioRun") or {}
    outcome = run_outcome(run) or "UNKNOWN"
    took = f" in {summary['duration']:.1f}s" if summary.get("duration") is not None else ""
    where = f"{target.describe()}{f' ({url})' if url else ''}"
    if outcome == RunOutcome.SUCCESS.value:
        log.info("DSS %s finished SUCCESS%s", where, took)
        return
    if outcome == RunOutcome.WARNING.value:
        warning = first_warning(details) or "no warning details"
        if not fail_on_warning:
            log.warning(
                "DSS %s finished WARNING%s: %s (fail_on_warning=False: the task passes)", where, took, warning
            )
            return
        log.error("DSS %s finished WARNING%s: %s", where, took, warning)
        raise DSSScenarioRunFailed(
            f"DSS {target.describe()} finished WARNING and fail_on_warning=True: {warning}.",
            outcome=outcome,
            target=target,
            first_error=first_error_details(details),
            run=summary,
        )
    first_error = first_error_details(details)
    described = describe_error(first_error)
    log.error("DSS %s finished %s%s: %s", where, outcome, took, described)
    log_failed_step_tail(log, hook, target, first_error, log_tail_lines)
    raise DSSScenarioRunFailed(
        f"DSS {target.describe()} finished {outcome}: {described}.",
        outcome=outcome,
        target=target,
        first_error=first_error,
        run=summary,
    )
