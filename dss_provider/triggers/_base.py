"""The machinery both DSS triggers share: validation, the pooled hook, the polling loop, events."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar

from dss_provider.checks import check_conn_id, check_int, check_positive
from dss_provider.compat import BaseTrigger, TriggerEvent
from dss_provider.exceptions import (
    DSSAPIError,
    DSSConfigurationError,
    DSSError,
    DSSTarget,
)
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.hooks.waiting import failed_poll
from dss_provider.protocol import endpoints, procedures
from dss_provider.protocol.models import (
    summarize_run,
)
from dss_provider.protocol.polling import PollSchedule, fire_schedule
from dss_provider.protocol.run_ref import RunRef
from dss_provider.protocol.waiter import Action, Done, GiveUp, Sleep, Waiter
from dss_provider.triggers import events

#: Retries of one request inside the async hook; the trigger's own failure budget governs beyond that.
TRIGGER_REQUEST_RETRIES = 1
#: How long ``on_kill`` waits for a pending fire to become a run it can abort.
ON_KILL_FIRE_WAIT = 10.0

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class _DeadlinePassed(Exception):
    """The wall-clock ``end_time`` passed during a wait."""


class _TooManyFailures(Exception):
    """``max_consecutive_failures`` polls failed in a row."""

    def __init__(self, error: BaseException, failures: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.failures = failures


def _shared(text: str) -> str:
    """One copy of a string many triggers hold (a str subclass is kept as it is: it cannot be interned)."""
    return sys.intern(text) if type(text) is str else text


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
        # Shared by the many triggers of a project and connection (each deserialized on its own).
        self.project_key = _shared(endpoints.check_id(project_key, "project_key"))
        self.scenario_id = endpoints.check_id(scenario_id, "scenario_id")
        self.dss_trigger_id = (
            None if trigger_id is None else _shared(endpoints.check_id(trigger_id, "trigger_id"))
        )
        self.dss_trigger_run_id = (
            None if trigger_run_id is None else endpoints.check_id(trigger_run_id, "trigger_run_id")
        )
        if (self.dss_trigger_id is None) != (self.dss_trigger_run_id is None):
            raise DSSConfigurationError(
                "trigger_id and trigger_run_id identify a trigger fire together: give both or neither "
                f"(got trigger_id={trigger_id!r}, trigger_run_id={trigger_run_id!r})."
            )
        self.run_id = None if run_id is None else endpoints.check_id(run_id, "run_id")
        self.dss_conn_id = _shared(check_conn_id(dss_conn_id))
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

    def _fire_name(self) -> str:
        """``trigger_id/trigger_run_id`` of the DSS trigger fire, for messages."""
        return f"{self.dss_trigger_id}/{self.dss_trigger_run_id}"

    # --- events --------------------------------------------------------------------------------

    @property
    def ref(self) -> RunRef:
        """The fire and run this trigger follows, as far as known (the run id once resolved)."""
        known = self._last_run or {}
        return RunRef(
            self.dss_trigger_id or known.get("trigger_id"),
            self.dss_trigger_run_id or known.get("trigger_run_id"),
            self._run_id,
        )

    def _target(self) -> DSSTarget:
        return DSSTarget(
            project_key=self.project_key,
            scenario_id=self.scenario_id,
            run_id=self._run_id,
            trigger_id=self.dss_trigger_id,
            trigger_run_id=self.dss_trigger_run_id,
        )

    def _event(self, status: str, message: str, **fields: Any) -> dict[str, Any]:
        ref = self.ref
        base: dict[str, Any] = {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            **ref.fire_ids,
            "run_id": ref.run_id,
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

    def _wait(self, hook: DSSAsyncHook) -> Awaitable[dict[str, Any]]:
        """The wait, to await: its event (a coroutine, or a :meth:`_poll_until` handed on as it is)."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, then send one event and return."""
        try:
            event = await self._wait(await self._acquire())
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

    async def _poll_until(self, wait: _Wait[_T], *, deadline: float | None = None) -> _T:
        """Drive a :class:`~dss_provider.protocol.waiter.Waiter` until ``wait`` answers a final value.

        Each poll awaits ``wait.ask()`` and hands its answer to ``wait.answer`` (the value, or None: not
        yet); ``wait.sleep`` waits out a gap of ``wait.schedule`` (a project watch may end it early). The
        deadline (``end_time`` unless ``deadline`` is given) raises ``_DeadlinePassed``, too many failures
        in a row ``_TooManyFailures``, a permanent error itself.
        """
        waiter: Waiter[_T] = Waiter(
            wait.schedule,
            deadline=self.end_time if deadline is None else deadline,
            max_consecutive_failures=self.max_consecutive_failures,
            elapsed=wait.elapsed,
        )
        # The loop of hooks/waiting.drive, inline, and the poll's request awaited here: thousands of
        # deferred waits each hold one coroutine frame less.
        action: Action[_T] = waiter.start()
        try:
            while not isinstance(action, (Done, GiveUp)):
                if isinstance(action, Sleep):
                    # A backoff is never cut short by a project watch.
                    await (asyncio.sleep if action.failures else wait.sleep)(action.seconds)
                try:
                    value = wait.answer(await wait.ask())
                except DSSError as err:
                    action = failed_poll(waiter, err, wait.what(), self.log)
                else:
                    action = waiter.answered(value)
        finally:
            wait.close()
        if isinstance(action, Done):
            return action.value
        if action.reason == "deadline":
            raise _DeadlinePassed
        assert action.error is not None
        if action.reason == "failures":
            raise _TooManyFailures(action.error, action.failures) from action.error
        raise action.error

    async def _poll_fire(self, hook: DSSAsyncHook) -> procedures.FireState:
        assert self.dss_trigger_id is not None and self.dss_trigger_run_id is not None
        state: procedures.FireState = await hook.run_procedure(
            procedures.resolve_fire(
                self.project_key, self.scenario_id, self.dss_trigger_id, self.dss_trigger_run_id
            )
        )
        self._last_answer = f"trigger fire {self._fire_name()} is {state.status}"
        return state

    async def _wait_for_fire(
        self, hook: DSSAsyncHook, schedule: PollSchedule, deadline: float | None = None
    ) -> procedures.FireState:
        """Poll the fire until it is a run or cancelled; sets ``_run_id`` when it is a run."""
        return await self._poll_until(_FireWait(self, hook, schedule), deadline=deadline)

    async def _run_id_within(self, hook: DSSAsyncHook, seconds: float) -> str | None:
        """The run the fire started, waiting up to ``seconds`` for a pending fire; None if none."""
        if self.dss_trigger_id is None:
            return None
        try:
            await self._wait_for_fire(hook, fire_schedule(self.poll_interval), time.time() + seconds)
        except _DeadlinePassed:
            return None
        except _TooManyFailures as failed:
            raise failed.error from None
        return self._run_id

    def _summarize(self, hook: DSSAsyncHook, **sources: Any) -> dict[str, Any]:
        # summarize_run builds a new plain dict (RunSummary is a TypedDict): no copy needed.
        summary: dict[str, Any] = summarize_run(  # type: ignore[assignment]
            project_key=self.project_key,
            scenario_id=self.scenario_id,
            base_url=hook.config.web_url,
            trigger_params=getattr(self, "trigger_params", None),
            **sources,
        )
        return summary

    def _cancelled_event(self, state: procedures.FireState) -> dict[str, Any]:
        return self._event(
            events.CANCELLED,
            f"DSS cancelled trigger fire {self.dss_trigger_id}/{self.dss_trigger_run_id} of "
            f"{self.project_key}.{self.scenario_id}: no run was started (the scenario was probably "
            "already running, or the fire was aborted).",
            fire=state.fire,
        )


class _Wait(Protocol[_T_co]):
    """What :meth:`_DSSWaitTrigger._poll_until` drives: one poll's request, its reading, the gaps."""

    @property
    def schedule(self) -> PollSchedule:
        """The gaps between polls."""

    def ask(self) -> Awaitable[Any]:
        """One poll of DSS (not awaited yet)."""

    def answer(self, answer: Any) -> _T_co | None:
        """The final value that ``answer`` makes, or None: not yet."""

    def elapsed(self) -> float:
        """Seconds the awaited thing has been going (for the schedule)."""

    def sleep(self, delay: float) -> Awaitable[Any]:
        """Wait out a gap of the schedule."""

    def what(self) -> str:
        """What is polled, for failure logs."""

    def close(self) -> None:
        """The wait is over (also when it ends with an error)."""


class _FireWait:
    """The wait for a trigger fire to become a run (or be cancelled); sets the trigger's ``_run_id``."""

    __slots__ = ("hook", "schedule", "started", "trigger")

    def __init__(self, trigger: _DSSWaitTrigger, hook: DSSAsyncHook, schedule: PollSchedule) -> None:
        self.trigger = trigger
        self.hook = hook
        self.schedule = schedule
        self.started = time.time()

    def ask(self) -> Awaitable[procedures.FireState]:
        return self.trigger._poll_fire(self.hook)

    def answer(self, state: procedures.FireState) -> procedures.FireState | None:
        trigger = self.trigger
        if state.status == "run" and state.run:
            trigger._run_id = str(state.run.get("runId"))
            trigger._last_run = dict(trigger._summarize(self.hook, run=state.run))
        return None if state.status == "pending" else state

    def elapsed(self) -> float:
        return time.time() - self.started

    def sleep(self, delay: float) -> Awaitable[Any]:
        return asyncio.sleep(delay)

    def what(self) -> str:
        trigger = self.trigger
        return f"trigger fire {trigger._fire_name()} of {trigger.project_key}.{trigger.scenario_id}"

    def close(self) -> None:
        pass
