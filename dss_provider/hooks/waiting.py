"""Blocking waits in the worker: a trigger fire until it becomes a run, a run until it finishes.

Both drive a :class:`~dss_provider.protocol.waiter.Waiter` (the one schedule, failure budget and
deadline rule of every wait) with :func:`drive`, whose async twin is the triggers' ``_poll_until``.
They never block forever (a ``timeout`` or ``deadline`` always applies), and raise
:class:`~dss_provider.exceptions.DSSTimeoutError` naming what was awaited. Like the triggers, they
ride out transient failures (each request is already retried by the hook): only
``max_consecutive_failures`` failed polls in a row end the wait, with the last error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from dss_provider.exceptions import DSSError, DSSTarget, DSSTimeoutError
from dss_provider.protocol.models import run_is_finished
from dss_provider.protocol.polling import DEFAULT_MAX_CONSECUTIVE_FAILURES, PollSchedule, fire_schedule
from dss_provider.protocol.waiter import Action, Done, GiveUp, Sleep, Waiter

if TYPE_CHECKING:
    from dss_provider.hooks.dss import DSSHook
    from dss_provider.protocol.procedures import FireState

#: The longest any handle waits when the caller gives no timeout (a week, like Airflow sensors).
DEFAULT_WAIT_TIMEOUT = 7 * 24 * 3600.0

__all__ = [
    "DEFAULT_MAX_CONSECUTIVE_FAILURES",
    "DEFAULT_WAIT_TIMEOUT",
    "drive",
    "failed_poll",
    "wait_for_fire",
    "wait_for_run",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class _Log(Protocol):
    """What the drivers log on: a ``logging.Logger``, or an operator's or trigger's ``self.log``."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


def drive(
    waiter: Waiter[_T], poll: Callable[[], _T | None], what: str, logger: _Log | None = None
) -> Done[_T] | GiveUp:
    """Poll ``what`` as ``waiter`` says, sleeping in between, until it is done or gives up.

    ``poll`` returns the final value, or None while the awaited thing is not there yet; a
    :class:`~dss_provider.exceptions.DSSError` it raises is a failed poll (other errors propagate).
    Failed polls are logged on ``logger`` (this module's by default).
    """
    action: Action[_T] = waiter.start()
    while not isinstance(action, (Done, GiveUp)):
        if isinstance(action, Sleep):
            time.sleep(action.seconds)
        try:
            value = poll()
        except DSSError as err:
            action = failed_poll(waiter, err, what, logger or log)
        else:
            action = waiter.answered(value)
    return action


def failed_poll(waiter: Waiter[Any], err: DSSError, what: str, logger: _Log) -> Sleep | GiveUp:
    """Tell ``waiter`` a poll of ``what`` failed; log its backoff, or the give-up after failures in a row."""
    action = waiter.failed(err)
    if isinstance(action, Sleep):
        logger.warning(
            "Polling %s failed (%d/%d in a row): %s; trying again in %.1fs",
            what,
            action.failures,
            waiter.limit,
            err,
            action.seconds,
        )
    elif action.reason != "permanent":
        logger.error("Giving up on %s after %d failed poll(s) in a row", what, action.failures)
    return action


def _result(action: Done[_T] | GiveUp, timed_out: Callable[[], DSSTimeoutError]) -> _T:
    """The final value of a worker wait; else ``timed_out()``, or the error the wait gave up on."""
    if isinstance(action, Done):
        return action.value
    raise action.error or timed_out()


def _deadline(timeout: float | None, deadline: float | None) -> float:
    """An epoch deadline from a timeout in seconds or an epoch deadline (the earlier wins)."""
    candidates = [time.time() + (timeout if timeout is not None else DEFAULT_WAIT_TIMEOUT)]
    if deadline is not None:
        candidates.append(deadline)
    return min(candidates)


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
    target = DSSTarget(project_key, scenario_id, trigger_id=trigger_id, trigger_run_id=trigger_run_id)
    waiter: Waiter[FireState] = Waiter(
        schedule or fire_schedule(),
        deadline=_deadline(timeout, deadline),
        max_consecutive_failures=max_consecutive_failures,
    )

    def poll() -> FireState | None:
        state = hook.resolve_fire(project_key, scenario_id, trigger_id, trigger_run_id)
        return None if state.status == "pending" else state

    return _result(
        drive(waiter, poll, target.describe()),
        lambda: DSSTimeoutError(
            f"Timed out waiting for {target.describe()} to start a run: DSS neither started nor "
            "cancelled it in time. Check the scenario in DSS; raise the timeout if DSS is busy.",
            target=target,
        ),
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
    target = DSSTarget(project_key, scenario_id, run_id)
    started = time.time()  # the run's start once DSS reports it: the schedule's gaps grow from there
    waiter: Waiter[dict[str, Any]] = Waiter(
        schedule or PollSchedule(),
        deadline=_deadline(timeout, deadline),
        max_consecutive_failures=max_consecutive_failures,
        elapsed=lambda: time.time() - started,
    )

    def poll() -> dict[str, Any] | None:
        nonlocal started
        details = hook.get_run_details(project_key, scenario_id, run_id)
        if on_poll is not None:
            on_poll(details)
        run = details.get("scenarioRun") or {}
        if run_is_finished(run):
            return details
        started = float(run.get("start") or 0) / 1000.0 or started
        return None

    return _result(
        drive(waiter, poll, target.describe()),
        lambda: DSSTimeoutError(
            f"Timed out waiting for {target.describe()} to finish; the run is still going in DSS.",
            target=target,
        ),
    )
