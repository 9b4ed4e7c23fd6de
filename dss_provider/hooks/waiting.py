"""Blocking waits in the worker: a trigger fire until it becomes a run, a run until it finishes.

Both follow :class:`~dss_provider.protocol.polling.PollSchedule`, never block forever (a ``timeout`` or
``deadline`` always applies), and raise :class:`~dss_provider.exceptions.DSSTimeoutError` naming what
was awaited. Like the triggers, they ride out transient failures (each request is already retried by
the hook): only ``max_consecutive_failures`` failed polls in a row end the wait, with the last error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dss_provider.exceptions import DSSError, DSSTarget, DSSTimeoutError
from dss_provider.protocol.models import run_is_finished
from dss_provider.protocol.polling import FailureBudget, PollSchedule, fire_schedule
from dss_provider.protocol.retry import backoff_delay, is_transient

if TYPE_CHECKING:
    from dss_provider.hooks.dss import DSSHook
    from dss_provider.protocol.procedures import FireState

#: The longest any handle waits when the caller gives no timeout (a week, like Airflow sensors).
DEFAULT_WAIT_TIMEOUT = 7 * 24 * 3600.0
#: Failed polls in a row (each after the hook's own retries) that end a wait; the triggers' default too.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class _FailureBudget:
    """Counts consecutive failed polls; re-raises a permanent error, or the last one past the budget."""

    def __init__(self, limit: int, deadline: float) -> None:
        self.budget = FailureBudget(limit)
        self.deadline = deadline

    def poll(self, call: Callable[[], _T]) -> _T | None:
        """The call's answer, or None after a transient failure that the budget still allows."""
        try:
            answer = call()
        except DSSError as err:
            if not is_transient(err):
                raise
            if not self.budget.failure() or time.time() >= self.deadline:
                log.error("Giving up after %d failed poll(s) in a row", self.budget.failures)
                raise
            # Each request was already retried by the hook; this jittered gap comes on top.
            delay = min(backoff_delay(self.budget.failures, err), max(self.deadline - time.time(), 0.0))
            log.warning(
                "Poll failed (%d in a row, giving up at %d): %s; polling again in %.1fs",
                self.budget.failures,
                self.budget.limit,
                err,
                delay,
            )
            time.sleep(delay)
            return None
        self.budget.success()
        return answer


def _deadline(timeout: float | None, deadline: float | None) -> float:
    """An epoch deadline from a timeout in seconds or an epoch deadline (the earlier wins)."""
    candidates = [time.time() + (timeout if timeout is not None else DEFAULT_WAIT_TIMEOUT)]
    if deadline is not None:
        candidates.append(deadline)
    return min(candidates)


def _sleep_until_next(schedule: PollSchedule, started: float, deadline: float) -> bool:
    """Sleep one polling gap, not past the deadline; False when the deadline has passed."""
    now = time.time()
    if now >= deadline:
        return False
    time.sleep(min(schedule.next_delay(now - started), max(deadline - now, 0.0)))
    return True


def wait_for_fire(
    hook: DSSHook,
    project_key: str,
    scenario_id: str,
    trigger_id: str,
    trigger_run_id: str,
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    schedule: PollSchedule | None = None,
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
) -> FireState:
    """Poll a trigger fire until it became a run or was cancelled (``FireState.status`` says which)."""
    schedule = schedule or fire_schedule()
    end = _deadline(timeout, deadline)
    budget = _FailureBudget(max_consecutive_failures, end)
    started = time.time()
    while True:
        state = budget.poll(lambda: hook.resolve_fire(project_key, scenario_id, trigger_id, trigger_run_id))
        if state is None:
            continue  # a failed poll already waited its backoff
        if state.status != "pending":
            return state
        if not _sleep_until_next(schedule, started, end):
            target = DSSTarget(project_key, scenario_id, trigger_id=trigger_id, trigger_run_id=trigger_run_id)
            raise DSSTimeoutError(
                f"Timed out waiting for {target.describe()} to start a run: DSS neither started nor "
                "cancelled it in time. Check the scenario in DSS; raise the timeout if DSS is busy.",
                target=target,
            )


def wait_for_run(
    hook: DSSHook,
    project_key: str,
    scenario_id: str,
    run_id: str,
    *,
    timeout: float | None = None,
    deadline: float | None = None,
    schedule: PollSchedule | None = None,
    on_poll: Callable[[dict[str, Any]], None] | None = None,
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
) -> dict[str, Any]:
    """Poll a run's details until it finishes; the final details. ``on_poll`` sees every poll."""
    schedule = schedule or PollSchedule()
    end = _deadline(timeout, deadline)
    budget = _FailureBudget(max_consecutive_failures, end)
    started = time.time()
    while True:
        details = budget.poll(lambda: hook.get_run_details(project_key, scenario_id, run_id))
        if details is None:
            continue  # a failed poll already waited its backoff
        if on_poll is not None:
            on_poll(details)
        run = details.get("scenarioRun") or {}
        if run_is_finished(run):
            return details
        started = float(run.get("start") or 0) / 1000.0 or started
        if not _sleep_until_next(schedule, started, end):
            target = DSSTarget(project_key, scenario_id, run_id)
            raise DSSTimeoutError(
                f"Timed out waiting for {target.describe()} to finish; the run is still going in DSS.",
                target=target,
            )
