"""Triggers that wait for Dataiku DSS in the triggerer.

They wait for a trigger fire until it becomes a run, and for a run until it finishes.

Both poll through :class:`~dss_provider.hooks.dss_async.DSSAsyncHook` (one pooled client per connection
in a triggerer process, joined at the start of :meth:`run` and left in :meth:`cleanup`), follow
:class:`~dss_provider.protocol.polling.PollSchedule`, and send exactly one event built with
:func:`~dss_provider.triggers.events.make_event` (statuses and fields are documented there).

Failure policy of a wait:

- a transient failure (connection error, 429/5xx, cut answer) is logged and the wait goes on with
  backoff; ``max_consecutive_failures`` failed polls in a row end it with an ``error`` event;
- a permanent failure (401, 403, 404, 400, a bad connection) ends it at once with an ``error`` event;
- anything unexpected ends it with an ``error`` event holding the exception text (traceback logged);
- the wall-clock ``end_time`` (epoch seconds) ends it with a ``timeout`` event. The trigger never aborts
  a run on timeout; the operator decides (in ``execute_complete``).

Several run triggers of one project on one connection in a triggerer share one poll of the project's
scenario list (:mod:`dss_provider.triggers.project_watch`) instead of each polling its run's details;
each still asks its run's details to build the event, after a failed list poll, and at least every
``max_poll_interval``.

A trigger rebuilt from its serialized kwargs (triggerer restart, another triggerer) resumes the same
wait: it never fires a scenario and never aborts a run except from :meth:`DSSScenarioRunTrigger.on_kill`
when ``abort_on_kill`` is set.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from dss_provider import compat
from dss_provider.checks import check_bool
from dss_provider.exceptions import (
    DSSConfigurationError,
    DSSError,
)
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.hooks.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES
from dss_provider.protocol import endpoints, procedures
from dss_provider.protocol.models import RunFacts, run_facts, run_is_finished, run_summary
from dss_provider.protocol.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    PollSchedule,
    check_positive,
    fire_schedule,
)
from dss_provider.protocol.verdict import judge_details
from dss_provider.triggers import _user_kill, events, project_watch
from dss_provider.triggers._base import (
    ON_KILL_FIRE_WAIT,
    TRIGGER_REQUEST_RETRIES,
    _DSSWaitTrigger,
    _iso,
)


class DSSScenarioRunTrigger(_DSSWaitTrigger):
    """Wait until a DSS scenario run finishes (event ``finished`` with its ``outcome``).

    Give ``run_id``, or the fire that starts the run (``trigger_id`` + ``trigger_run_id``): the trigger
    then first waits for the fire to become a run (a cancelled fire gives a ``cancelled`` event), on the
    fire's schedule (:func:`~dss_provider.protocol.polling.fire_schedule`, as the worker does).

    :param expected_duration: the scenario's usual run time in seconds, to poll rarely early and tightly
        near the expected end (see :class:`~dss_provider.protocol.polling.PollSchedule`).
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
        if self.run_id is None and self.dss_trigger_id is None:
            raise DSSConfigurationError(
                "DSSScenarioRunTrigger needs the run_id, or the trigger fire (trigger_id and trigger_run_id) "
                "that starts the run."
            )
        self.expected_duration = check_positive(expected_duration, "expected_duration", allow_none=True)
        self.abort_on_kill = check_bool(abort_on_kill, "abort_on_kill")
        self.trigger_params = (
            None if trigger_params is None else endpoints.check_json_object(trigger_params, "trigger_params")
        )
        # One logger for all the triggers of a class (on first use, LoggingMixin makes one per trigger):
        # LoggingMixin.logger() keeps it on the class, where every trigger's ``log`` finds it.
        cls = type(self)
        if vars(cls).get("_log") is None:
            cls._log = None  # not a parent class's logger: this class's own name
            cls.logger()

    def _serialize_kwargs(self) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            "run_id": self.run_id,
            "trigger_id": self.dss_trigger_id,
            "trigger_run_id": self.dss_trigger_run_id,
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
                f"Trigger fire {self.dss_trigger_id}/{self.dss_trigger_run_id} of {self.project_key}."
                f"{self.scenario_id} had not started a run before the deadline ({_iso(self.end_time)})."
            )
        return (
            f"Run {self._run_id} of {self.project_key}.{self.scenario_id} was still running at the deadline "
            f"({_iso(self.end_time)}); the trigger did not abort it."
        )

    #: What the last successful poll saw: a run dict, or the RunFacts of a run still going.
    _seen_run: dict[str, Any] | RunFacts | None = None
    #: What DSS last answered successfully: words, or the RunFacts of a run still going.
    _seen_answer: str | RunFacts = "no successful answer yet"
    #: The connection's DSS web address, for the run dict's url (kept when the wait starts).
    _web_url: str | None = None

    # The last successful run-details poll is kept as RunFacts (a few hundred bytes) and turned into the
    # run dict and the words of ``_last_answer`` only when an event needs them (timeout, error).
    @property
    def _last_run(self) -> dict[str, Any] | None:
        seen = self._seen_run
        if isinstance(seen, RunFacts):
            return self._run_dict(seen)
        return seen

    @_last_run.setter
    def _last_run(self, value: dict[str, Any] | None) -> None:
        self._seen_run = value

    @property
    def _last_answer(self) -> str:
        seen = self._seen_answer
        if isinstance(seen, RunFacts):
            return f"run {self._run_id} still running ({len(seen.steps)} step(s) started)"
        return seen

    @_last_answer.setter
    def _last_answer(self, value: str) -> None:
        self._seen_answer = value

    def _run_dict(self, facts: RunFacts) -> dict[str, Any]:
        summary: dict[str, Any] = run_summary(  # type: ignore[assignment]
            facts,
            project_key=self.project_key,
            scenario_id=self.scenario_id,
            base_url=self._web_url,
            trigger_params=self.trigger_params,
        )
        return summary

    def _wait(self, hook: DSSAsyncHook) -> Awaitable[dict[str, Any]]:
        if self._run_id is None:
            return self._wait_for_fire_then_run(hook)
        # The run's wait itself, not a coroutine awaiting it: one frame less per waiting trigger.
        return self._poll_until(_RunWait(self, hook, self._run_id))

    async def _wait_for_fire_then_run(self, hook: DSSAsyncHook) -> dict[str, Any]:
        # The fire's own schedule (as in the worker): DSS starts a fired run within seconds.
        state = await self._wait_for_fire(hook, fire_schedule(self.poll_interval, self.max_poll_interval))
        if state.status == "cancelled":
            return self._cancelled_event(state)
        self.log.info(
            "Trigger fire %s/%s started run %s",
            self.dss_trigger_id,
            self.dss_trigger_run_id,
            self._run_id,
        )
        assert self._run_id is not None
        return await self._poll_until(_RunWait(self, hook, self._run_id))

    def _finished_event(self, details: dict[str, Any], facts: RunFacts) -> dict[str, Any]:
        summary = self._run_dict(facts)
        self._last_run = summary
        self._last_answer = f"run {self._run_id} finished"
        verdict = judge_details(details)
        where = f"{self.project_key}.{self.scenario_id}"
        message = f"Run {self._run_id} of {where} finished with outcome {verdict.outcome}"
        if verdict.first_error or (verdict.is_warning and verdict.warning):
            message += f": {verdict.reason}"
        return self._event(
            events.FINISHED,
            message + ".",
            outcome=verdict.outcome,
            run=summary,
            first_error=verdict.first_error,
            warning=verdict.warning,
        )

    def run(self) -> AsyncIterator[compat.TriggerEvent]:
        """Wait, then send one event.

        Before Airflow 3.3 (no ``on_kill`` call), a cancel that finds the task killed by a user calls
        :meth:`on_kill` here (see ``triggers/_user_kill.py``). Otherwise this is the plain wait (no
        wrapping generator per trigger).
        """
        if self.abort_on_kill and not compat.HAS_TRIGGER_ON_KILL:
            return self._run_watching_for_kill()
        return super().run()

    async def _run_watching_for_kill(self) -> AsyncIterator[compat.TriggerEvent]:
        sent = False
        try:
            async for event in super().run():
                sent = True
                yield event
        except asyncio.CancelledError:
            if not sent:
                what = f"run {self._run_id or '(not started yet)'} of {self.project_key}.{self.scenario_id}"
                if await _user_kill.killed_by_user(getattr(self, "task_instance", None), self.log, what):
                    await self.on_kill()
            raise

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
                    self.dss_trigger_id,
                    self.dss_trigger_run_id,
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
        return await self._run_id_within(hook, ON_KILL_FIRE_WAIT)


class _RunWait:
    """The state of one trigger's wait for its run: the poll, the gaps and the shared project watch.

    One per waiting trigger, so slotted methods rather than closures over a dozen cells.
    """

    __slots__ = (
        "hook",
        "own_polls",
        "run_id",
        "schedule",
        "start_ms",
        "started_at",
        "trigger",
        "watch",
        "woken",
    )

    def __init__(self, trigger: DSSScenarioRunTrigger, hook: DSSAsyncHook, run_id: str) -> None:
        self.trigger = trigger
        self.hook = hook
        self.run_id = run_id
        trigger._web_url = hook.config.web_url
        self.schedule = _schedule(trigger.poll_interval, trigger.max_poll_interval, trigger.expected_duration)
        self.started_at = time.time()
        # Other triggers of the project in this loop: one scenario list poll serves all of them.
        self.watch = project_watch.watch_for(trigger.dss_conn_id, trigger.project_key)
        self.watch.join()
        #: The run's start (epoch ms) once read: how the scenario list names this run.
        self.start_ms = 0
        #: The watch's answer to the last gap (``"ended"``: the list no longer shows the run running).
        self.woken: asyncio.Future[project_watch.Wake] | None = None
        #: The list disagreed with the run: poll the run itself from now on.
        self.own_polls = False

    def elapsed(self) -> float:
        """Seconds since the run started (since the wait began until its start is read)."""
        return time.time() - self.started_at

    def sleep(self, delay: float) -> Awaitable[Any]:
        """Wait out a gap: alone, or until the project's list poll says the run ended (or to look)."""
        watch = self.watch
        if self.own_polls or not watch.shared or not self.start_ms:
            return asyncio.sleep(delay)
        trigger = self.trigger
        check_by = time.time() + max(delay, trigger.max_poll_interval)
        if trigger.end_time is not None:
            check_by = min(check_by, trigger.end_time)
        self.woken = woken = watch.wait(
            self.hook, trigger.scenario_id, self.start_ms, self.schedule, self.started_at, delay, check_by
        )
        return woken

    def ask(self) -> Awaitable[Any]:
        """Ask the run's details (answered in :meth:`answer`)."""
        # The request is described anew each poll (~13 us): held for the whole wait, it would cost every
        # waiting trigger ~0.4 KiB, for the two or three polls a shared wait makes.
        trigger = self.trigger
        return self.hook.execute(
            endpoints.get_run_details(trigger.project_key, trigger.scenario_id, self.run_id)
        )

    def answer(self, details: Any) -> dict[str, Any] | None:
        """The ``finished`` event once the run has a result, else None."""
        trigger = self.trigger
        details = details if isinstance(details, dict) else {}
        run = details.get("scenarioRun") or {}
        if run.get("start"):
            self.started_at = float(run["start"]) / 1000.0
            self.start_ms = int(run["start"])
        finished = run_is_finished(run)
        woken, self.woken = self.woken, None
        if not finished and woken is not None and _ended(woken):
            self.own_polls = True
        facts = run_facts(details=details)
        if finished:
            return trigger._finished_event(details, facts)
        trigger._seen_run = trigger._seen_answer = facts
        return None

    def what(self) -> str:
        """What is polled, for failure logs (worded only when a poll fails)."""
        trigger = self.trigger
        return f"run {self.run_id} of {trigger.project_key}.{trigger.scenario_id}"

    def close(self) -> None:
        """Leave the project watch."""
        project_watch.release_watch(self.watch)


@functools.lru_cache(maxsize=256)
def _schedule(poll_interval: float, max_interval: float, expected_duration: float | None) -> PollSchedule:
    """The (immutable) schedule of these parameters, one for all the waits that share them."""
    return PollSchedule(poll_interval, max_interval, expected_duration)


def _ended(woken: asyncio.Future[project_watch.Wake]) -> bool:
    """Whether the watch ended the gap because the list no longer shows the run running."""
    return woken.done() and not woken.cancelled() and woken.result() == "ended"
