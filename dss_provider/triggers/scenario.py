"""Triggers that wait for Dataiku DSS in the triggerer: a trigger fire until it becomes a run, a run until
it finishes.

Both poll through :class:`~dss_provider.hooks.dss_async.DSSAsyncHook` (one pooled client per connection
in a triggerer process, joined at the start of :meth:`run` and left in :meth:`cleanup`), follow
:class:`~dss_provider.api.polling.PollSchedule`, and send exactly one event built with
:func:`~dss_provider.triggers.events.make_event` (statuses and fields are documented there).

Failure policy of a wait:

- a transient failure (connection error, 429/5xx, cut answer) is logged and the wait goes on with
  backoff; ``max_consecutive_failures`` failed polls in a row end it with an ``error`` event;
- a permanent failure (401, 403, 404, 400, a bad connection) ends it at once with an ``error`` event;
- anything unexpected ends it with an ``error`` event holding the exception text (traceback logged);
- the wall-clock ``end_time`` (epoch seconds) ends it with a ``timeout`` event. The trigger never aborts
  a run on timeout; the operator decides (in ``execute_complete``).

A trigger rebuilt from its serialized kwargs (triggerer restart, another triggerer) resumes the same
wait: it never fires a scenario and never aborts a run except from :meth:`DSSScenarioRunTrigger.on_kill`
when ``abort_on_kill`` is set.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from dss_provider.api import endpoints, procedures
from dss_provider.api.models import (
    describe_error,
    first_error_details,
    run_is_finished,
    run_outcome,
    summarize_run,
)
from dss_provider.api.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    PollSchedule,
    check_positive,
)
from dss_provider.checks import check_bool, check_conn_id, check_int
from dss_provider.exceptions import (
    DSSAPIError,
    DSSConfigurationError,
    DSSConnectionError,
    DSSError,
    DSSTarget,
    DSSTransientError,
)
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.triggers import events

#: Retries of one request inside the async hook; the trigger's own failure budget governs beyond that.
TRIGGER_REQUEST_RETRIES = 1
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
#: Polling of a trigger fire (DSS turns a manual fire into a run within seconds).
DEFAULT_FIRE_POLL_INTERVAL = 1.0
DEFAULT_FIRE_MAX_POLL_INTERVAL = 10.0
#: How long ``on_kill`` waits for a pending fire to become a run it can abort.
ON_KILL_FIRE_WAIT = 10.0

_T = TypeVar("_T")


class _DeadlinePassed(Exception):
    """The wall-clock ``end_time`` passed during a wait."""


class _TooManyFailures(Exception):
    """``max_consecutive_failures`` polls failed in a row."""

    def __init__(self, error: BaseException, failures: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.failures = failures


def is_transient(err: BaseException) -> bool:
    """Whether a failed poll may succeed later (so the wait goes on)."""
    if isinstance(err, (DSSTransientError, DSSConnectionError)):
        return True
    # An error answer outside the known classes: a 5xx may clear, a 4xx will not.
    return type(err) is DSSAPIError and (err.http_status is None or err.http_status >= 500)


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat() if epoch is not None else None


class _DSSWaitTrigger(BaseTrigger):
    """What both DSS triggers share: validation, the hook, the polling loop and the event shapes."""

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        trigger_id: str | None,
        trigger_run_id: str | None,
        run_id: str | None,
        dss_conn_id: str,
        poll_interval: float,
        max_poll_interval: float,
        end_time: float | None,
        max_consecutive_failures: int,
    ) -> None:
        super().__init__()
        self.project_key = endpoints.check_id(project_key, "project_key")
        self.scenario_id = endpoints.check_id(scenario_id, "scenario_id")
        self.trigger_id = None if trigger_id is None else endpoints.check_id(trigger_id, "trigger_id")
        self.trigger_run_id = (
            None if trigger_run_id is None else endpoints.check_id(trigger_run_id, "trigger_run_id")
        )
        if (self.trigger_id is None) != (self.trigger_run_id is None):
            raise DSSConfigurationError(
                "trigger_id and trigger_run_id identify a trigger fire together: give both or neither "
                f"(got trigger_id={trigger_id!r}, trigger_run_id={trigger_run_id!r})."
            )
        self.run_id = None if run_id is None else endpoints.check_id(run_id, "run_id")
        self.dss_conn_id = check_conn_id(dss_conn_id)
        self.poll_interval = float(check_positive(poll_interval, "poll_interval") or 0.0)
        self.max_poll_interval = float(check_positive(max_poll_interval, "max_poll_interval") or 0.0)
        self.end_time = check_positive(end_time, "end_time", allow_none=True)
        self.max_consecutive_failures = check_int(max_consecutive_failures, "max_consecutive_failures")
        self._hook: DSSAsyncHook | None = None
        #: The run id once known (given, or resolved from the fire).
        self._run_id: str | None = self.run_id
        #: The last run dict built from a successful poll, for timeout and error events.
        self._last_run: dict[str, Any] | None = None
        #: What DSS last answered successfully, in words (for error events).
        self._last_answer = "no successful answer yet"

    # --- serialization -------------------------------------------------------------------------

    def _serialize_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the JSON-able kwargs that rebuild this trigger (never the API key)."""
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", self._serialize_kwargs()

    # --- hook ----------------------------------------------------------------------------------

    async def _acquire(self) -> DSSAsyncHook:
        if self._hook is None:
            hook = DSSAsyncHook(self.dss_conn_id, retries=TRIGGER_REQUEST_RETRIES)
            await hook.acquire()
            self._hook = hook
        return self._hook

    async def _release(self) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.release()

    async def cleanup(self) -> None:
        """Leave the shared client (the last trigger of the connection closes it). Never aborts."""
        try:
            await self._release()
        except Exception:
            self.log.warning(
                "Could not release the DSS client of %s", self._target().describe(), exc_info=True
            )

    # --- events --------------------------------------------------------------------------------

    def _target(self) -> DSSTarget:
        return DSSTarget(
            project_key=self.project_key,
            scenario_id=self.scenario_id,
            run_id=self._run_id,
            trigger_id=self.trigger_id,
            trigger_run_id=self.trigger_run_id,
        )

    def _event(self, status: str, message: str, **fields: Any) -> dict[str, Any]:
        known = self._last_run or {}
        base: dict[str, Any] = {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            "trigger_id": self.trigger_id or known.get("trigger_id"),
            "trigger_run_id": self.trigger_run_id or known.get("trigger_run_id"),
            "run_id": self._run_id,
        }
        base.update(fields)
        return events.make_event(status, message=message, **base)

    def _error_event(self, err: BaseException, message: str | None = None, **fields: Any) -> dict[str, Any]:
        text = message or str(err) or type(err).__name__
        http_status = err.http_status if isinstance(err, DSSAPIError) else None
        return self._event(
            events.ERROR,
            text,
            error_class=type(err).__name__,
            http_status=http_status,
            run=self._last_run,
            **fields,
        )

    def _timeout_message(self) -> str:
        raise NotImplementedError

    def _timeout_event(self) -> dict[str, Any]:
        return self._event(
            events.TIMEOUT, self._timeout_message(), run=self._last_run, end_time=self.end_time
        )

    # --- the wait ------------------------------------------------------------------------------

    async def _wait(self) -> dict[str, Any]:
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, then send one event and return."""
        try:
            event = await self._wait()
        except _DeadlinePassed:
            event = self._timeout_event()
        except _TooManyFailures as failed:
            err = failed.error
            message = (
                f"Gave up waiting for {self._target().describe()} after {failed.failures} consecutive "
                f"failed polls of DSS. Last failure: {str(err).rstrip('.')}. "
                f"Last successful DSS answer: {self._last_answer}."
            )
            event = self._error_event(err, message, failures=failed.failures)
        except DSSError as err:
            self.log.error("Waiting for %s failed: %s", self._target().describe(), err)
            event = self._error_event(err)
        except Exception as err:
            self.log.exception("Unexpected error while waiting for %s", self._target().describe())
            where = self._target().describe()
            event = self._error_event(
                err, f"Unexpected error while waiting for {where}: {type(err).__name__}: {err}"
            )
        # Done with DSS: leave the shared client now, so an event loop that stops right after the event
        # (``dag.test`` runs triggers inline) does not keep a client open. cleanup() is then a no-op.
        await self.cleanup()
        self.log.info("%s: %s", event["status"], event["message"])
        yield TriggerEvent(event)

    async def _poll_until(
        self,
        poll: Callable[[], Awaitable[_T | None]],
        schedule: PollSchedule,
        elapsed: Callable[[], float],
        what: str,
    ) -> _T:
        """Call ``poll`` until it returns a value; transient failures back off, the deadline raises."""
        failures = 0
        while True:
            try:
                result = await poll()
            except DSSError as err:
                if not is_transient(err):
                    raise
                failures += 1
                if failures >= self.max_consecutive_failures:
                    raise _TooManyFailures(err, failures) from err
                delay = self._failure_delay(failures, err)
                self.log.warning(
                    "Polling %s failed (%d/%d in a row): %s; trying again in %.1fs",
                    what,
                    failures,
                    self.max_consecutive_failures,
                    err,
                    delay,
                )
            else:
                failures = 0
                if result is not None:
                    return result
                delay = schedule.next_delay(elapsed())
            now = time.time()
            if self.end_time is not None:
                if now >= self.end_time:
                    raise _DeadlinePassed
                delay = min(delay, self.end_time - now)
            await asyncio.sleep(max(delay, 0.0))

    def _failure_delay(self, failures: int, err: BaseException) -> float:
        """Exponential backoff from ``poll_interval`` up to ``max_poll_interval``, honouring Retry-After."""
        delay = min(
            self.poll_interval * (2 ** (failures - 1)), max(self.max_poll_interval, self.poll_interval)
        )
        retry_after = getattr(err, "retry_after", None)
        if retry_after:
            delay = max(delay, float(retry_after))
        return delay

    async def _poll_fire(self, hook: DSSAsyncHook) -> procedures.FireState:
        assert self.trigger_id is not None and self.trigger_run_id is not None
        state: procedures.FireState = await hook.run_procedure(
            procedures.resolve_fire(self.project_key, self.scenario_id, self.trigger_id, self.trigger_run_id)
        )
        self._last_answer = f"trigger fire {self.trigger_id}/{self.trigger_run_id} is {state.status}"
        return state

    async def _wait_for_fire(self, hook: DSSAsyncHook, schedule: PollSchedule) -> procedures.FireState:
        """Poll the fire until it is a run or cancelled; sets ``_run_id`` when it is a run."""
        started = time.time()

        async def poll() -> procedures.FireState | None:
            state = await self._poll_fire(hook)
            if state.status == "run" and state.run:
                self._run_id = str(state.run.get("runId"))
                self._last_run = dict(self._summarize(hook, run=state.run))
            return None if state.status == "pending" else state

        return await self._poll_until(
            poll,
            schedule,
            lambda: time.time() - started,
            f"trigger fire {self.trigger_id}/{self.trigger_run_id} of {self.project_key}.{self.scenario_id}",
        )

    def _summarize(self, hook: DSSAsyncHook, **sources: Any) -> dict[str, Any]:
        return dict(
            summarize_run(
                project_key=self.project_key,
                scenario_id=self.scenario_id,
                base_url=hook.config.web_url,
                trigger_params=getattr(self, "trigger_params", None),
                **sources,
            )
        )

    def _cancelled_event(self, state: procedures.FireState) -> dict[str, Any]:
        return self._event(
            events.CANCELLED,
            f"DSS cancelled trigger fire {self.trigger_id}/{self.trigger_run_id} of "
            f"{self.project_key}.{self.scenario_id}: no run was started (the scenario was probably "
            "already running, or the fire was aborted).",
            fire=state.fire,
        )


class DSSTriggerFireTrigger(_DSSWaitTrigger):
    """Wait until a DSS trigger fire becomes a run (event ``run_started``) or is cancelled (``cancelled``).

    :param project_key: the DSS project key.
    :param scenario_id: the scenario id.
    :param trigger_id: the fire's trigger id (``manual`` for API runs).
    :param trigger_run_id: the fire's id (``runId`` of the answer to a run request).
    :param dss_conn_id: the ``dataiku_dss`` connection id.
    :param poll_interval: shortest gap between polls, in seconds.
    :param max_poll_interval: longest gap between polls, in seconds.
    :param end_time: wall-clock deadline (epoch seconds); when it passes, a ``timeout`` event is sent.
    :param max_consecutive_failures: failed polls in a row that end the wait with an ``error`` event.
    """

    def __init__(
        self,
        project_key: str,
        scenario_id: str,
        trigger_id: str,
        trigger_run_id: str,
        dss_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_FIRE_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_FIRE_MAX_POLL_INTERVAL,
        end_time: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
    ) -> None:
        if trigger_id is None or trigger_run_id is None:
            raise DSSConfigurationError(
                "DSSTriggerFireTrigger needs trigger_id and trigger_run_id (the ids of the trigger fire), "
                f"got trigger_id={trigger_id!r}, trigger_run_id={trigger_run_id!r}."
            )
        super().__init__(
            project_key=project_key,
            scenario_id=scenario_id,
            trigger_id=trigger_id,
            trigger_run_id=trigger_run_id,
            run_id=None,
            dss_conn_id=dss_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            end_time=end_time,
            max_consecutive_failures=max_consecutive_failures,
        )

    def _serialize_kwargs(self) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            "trigger_id": self.trigger_id,
            "trigger_run_id": self.trigger_run_id,
            "dss_conn_id": self.dss_conn_id,
            "poll_interval": self.poll_interval,
            "max_poll_interval": self.max_poll_interval,
            "end_time": self.end_time,
            "max_consecutive_failures": self.max_consecutive_failures,
        }

    def _timeout_message(self) -> str:
        return (
            f"Trigger fire {self.trigger_id}/{self.trigger_run_id} of {self.project_key}."
            f"{self.scenario_id} neither started a run nor was cancelled before the deadline "
            f"({_iso(self.end_time)})."
        )

    async def _wait(self) -> dict[str, Any]:
        hook = await self._acquire()
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval)
        state = await self._wait_for_fire(hook, schedule)
        if state.status == "cancelled":
            return self._cancelled_event(state)
        return self._event(
            events.RUN_STARTED,
            f"Trigger fire {self.trigger_id}/{self.trigger_run_id} of {self.project_key}.{self.scenario_id} "
            f"started run {self._run_id}.",
            run=self._last_run,
        )


class DSSScenarioRunTrigger(_DSSWaitTrigger):
    """Wait until a DSS scenario run finishes (event ``finished`` with its ``outcome``).

    Give ``run_id``, or the fire that starts the run (``trigger_id`` + ``trigger_run_id``): the trigger
    then first waits for the fire to become a run (a cancelled fire gives a ``cancelled`` event).

    :param expected_duration: the scenario's usual run time in seconds, to poll rarely early and tightly
        near the expected end (see :class:`~dss_provider.api.polling.PollSchedule`).
    :param end_time: wall-clock deadline (epoch seconds); when it passes, a ``timeout`` event is sent and
        the run is left running (the operator decides whether to abort it).
    :param abort_on_kill: when a user kills the deferred task (mark failed/success, clear), abort this run
        in DSS (:meth:`on_kill`). Triggerer restarts and timeouts never abort.
    :param max_consecutive_failures: failed polls in a row that end the wait with an ``error`` event.
    :param trigger_params: the params the run was fired with, reported in the run dict.
    """

    def __init__(
        self,
        project_key: str,
        scenario_id: str,
        run_id: str | None = None,
        trigger_id: str | None = None,
        trigger_run_id: str | None = None,
        dss_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        expected_duration: float | None = None,
        end_time: float | None = None,
        abort_on_kill: bool = False,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        trigger_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            project_key=project_key,
            scenario_id=scenario_id,
            trigger_id=trigger_id,
            trigger_run_id=trigger_run_id,
            run_id=run_id,
            dss_conn_id=dss_conn_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            end_time=end_time,
            max_consecutive_failures=max_consecutive_failures,
        )
        if self.run_id is None and self.trigger_id is None:
            raise DSSConfigurationError(
                "DSSScenarioRunTrigger needs the run_id, or the trigger fire (trigger_id and trigger_run_id) "
                "that starts the run."
            )
        self.expected_duration = check_positive(expected_duration, "expected_duration", allow_none=True)
        self.abort_on_kill = check_bool(abort_on_kill, "abort_on_kill")
        self.trigger_params = (
            None if trigger_params is None else endpoints.check_json_object(trigger_params, "trigger_params")
        )

    def _serialize_kwargs(self) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            "run_id": self.run_id,
            "trigger_id": self.trigger_id,
            "trigger_run_id": self.trigger_run_id,
            "dss_conn_id": self.dss_conn_id,
            "poll_interval": self.poll_interval,
            "max_poll_interval": self.max_poll_interval,
            "expected_duration": self.expected_duration,
            "end_time": self.end_time,
            "abort_on_kill": self.abort_on_kill,
            "max_consecutive_failures": self.max_consecutive_failures,
            "trigger_params": self.trigger_params,
        }

    def _timeout_message(self) -> str:
        if self._run_id is None:
            return (
                f"Trigger fire {self.trigger_id}/{self.trigger_run_id} of {self.project_key}."
                f"{self.scenario_id} had not started a run before the deadline ({_iso(self.end_time)})."
            )
        return (
            f"Run {self._run_id} of {self.project_key}.{self.scenario_id} was still running at the deadline "
            f"({_iso(self.end_time)}); the trigger did not abort it."
        )

    async def _wait(self) -> dict[str, Any]:
        hook = await self._acquire()
        if self._run_id is None:
            fire_schedule = PollSchedule(self.poll_interval, min(self.max_poll_interval, 10.0))
            state = await self._wait_for_fire(hook, fire_schedule)
            if state.status == "cancelled":
                return self._cancelled_event(state)
            self.log.info(
                "Trigger fire %s/%s started run %s", self.trigger_id, self.trigger_run_id, self._run_id
            )
        assert self._run_id is not None
        run_id = self._run_id
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval, self.expected_duration)
        started = {"at": time.time()}

        async def poll() -> dict[str, Any] | None:
            details = await hook.execute(
                endpoints.get_run_details(self.project_key, self.scenario_id, run_id)
            )
            details = details if isinstance(details, dict) else {}
            run = details.get("scenarioRun") or {}
            if run.get("start"):
                started["at"] = float(run["start"]) / 1000.0
            summary = self._summarize(hook, details=details)
            self._last_run = summary
            if not run_is_finished(run):
                self._last_answer = f"run {run_id} still running ({len(summary['steps'])} step(s) started)"
                return None
            self._last_answer = f"run {run_id} finished"
            outcome = run_outcome(run) or "UNKNOWN"
            first_error = first_error_details(details)
            message = f"Run {run_id} of {self.project_key}.{self.scenario_id} finished with outcome {outcome}"
            if first_error:
                message += f": {describe_error(first_error)}"
            return self._event(
                events.FINISHED,
                message + ".",
                outcome=outcome,
                run=summary,
                first_error=first_error,
            )

        return await self._poll_until(
            poll,
            schedule,
            lambda: time.time() - started["at"],
            f"run {run_id} of {self.project_key}.{self.scenario_id}",
        )

    async def on_kill(self) -> None:
        """The user killed the deferred task: abort exactly this run when ``abort_on_kill`` is set."""
        where = f"{self.project_key}.{self.scenario_id}"
        if not self.abort_on_kill:
            self.log.info(
                "Task killed; abort_on_kill is False, so run %s of %s is left running in DSS",
                self._run_id or "(not started yet)",
                where,
            )
            return
        temporary = self._hook is None
        hook = DSSAsyncHook(self.dss_conn_id, retries=TRIGGER_REQUEST_RETRIES) if temporary else self._hook
        assert hook is not None
        try:
            await hook.acquire()
            run_id = self._run_id or await self._run_id_for_kill(hook)
            if run_id is None:
                self.log.warning(
                    "Task killed; trigger fire %s/%s of %s has not started a run, so nothing was aborted",
                    self.trigger_id,
                    self.trigger_run_id,
                    where,
                )
                return
            aborted = await hook.run_procedure(
                procedures.abort_run(self.project_key, self.scenario_id, run_id)
            )
            if aborted:
                self.log.info("Task killed: aborted run %s of %s in DSS (abort_on_kill=True)", run_id, where)
            else:
                self.log.info(
                    "Task killed: run %s of %s had already finished; nothing to abort", run_id, where
                )
        except DSSError as err:
            self.log.warning("Task killed, but aborting the run of %s failed: %s", where, err)
        finally:
            if temporary:
                await hook.release()

    async def _run_id_for_kill(self, hook: DSSAsyncHook) -> str | None:
        """The run of the fire, waiting briefly for a pending fire to start it."""
        if self.trigger_id is None:
            return None
        deadline = time.monotonic() + ON_KILL_FIRE_WAIT
        while True:
            state = await self._poll_fire(hook)
            if state.status == "run" and state.run:
                self._run_id = str(state.run.get("runId"))
                return self._run_id
            if state.status == "cancelled" or time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(self.poll_interval, 1.0))


def exception_from_event(event: dict[str, Any]) -> DSSError:
    """The provider exception an ``error`` event stands for (``error_class`` names it)."""
    from dss_provider import exceptions

    name = str(event.get("error_class") or "")
    message = str(event.get("message") or "the DSS trigger reported an error without a message")
    cls = DSSConnectionError if name == "DSSTransportError" else getattr(exceptions, name, None)
    target = DSSTarget(
        project_key=event.get("project_key"),
        scenario_id=event.get("scenario_id"),
        run_id=event.get("run_id"),
        trigger_id=event.get("trigger_id"),
        trigger_run_id=event.get("trigger_run_id"),
    )
    if isinstance(cls, type) and issubclass(cls, DSSAPIError):
        return cls(message, http_status=event.get("http_status"), target=target)
    if cls in (DSSConfigurationError, DSSConnectionError, DSSError):
        return cls(message)
    return DSSError(message)


__all__ = ["DSSScenarioRunTrigger", "DSSTriggerFireTrigger", "exception_from_event", "is_transient"]
