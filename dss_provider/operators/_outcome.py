"""What the task log shows about a finished run, and the exception that fails the task.

The decision itself is :func:`dss_provider.protocol.verdict.judge`; this module words it for the task log.
"""

from __future__ import annotations

from typing import Any

from dss_provider.exceptions import DSSError, DSSScenarioRunFailed, DSSTarget
from dss_provider.hooks.dss import DSSHook
from dss_provider.operators.task_output import tail
from dss_provider.protocol.models import first_warning  # noqa: F401 - its old home, kept importable
from dss_provider.protocol.verdict import Verdict


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
    verdict: Verdict,
    summary: dict[str, Any],
    log_tail_lines: int,
    url: str | None,
) -> None:
    """Log the verdict; raise :class:`DSSScenarioRunFailed` when it fails the task."""
    outcome = verdict.outcome
    took = f" in {summary['duration']:.1f}s" if summary.get("duration") is not None else ""
    where = f"{target.describe()}{f' ({url})' if url else ''}"
    if verdict.passed and not verdict.is_warning:
        log.info("DSS %s finished %s%s", where, outcome, took)
        return
    if verdict.is_warning:
        if verdict.passed:
            log.warning(
                "DSS %s finished WARNING%s: %s (fail_on_warning=False: the task passes)",
                where,
                took,
                verdict.reason,
            )
            return
        log.error("DSS %s finished WARNING%s: %s", where, took, verdict.reason)
        message = f"DSS {target.describe()} finished WARNING and fail_on_warning=True: {verdict.reason}."
    else:
        log.error("DSS %s finished %s%s: %s", where, outcome, took, verdict.reason)
        log_failed_step_tail(log, hook, target, verdict.first_error, log_tail_lines)
        message = f"DSS {target.describe()} finished {outcome}: {verdict.reason}."
    raise DSSScenarioRunFailed(
        message, outcome=outcome, target=target, first_error=verdict.first_error, run=summary
    )
