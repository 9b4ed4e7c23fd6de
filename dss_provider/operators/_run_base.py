"""The machinery of DSSRunScenarioOperator that is not its public face: the state it remembers, the
busy-scenario handling (``if_already_running``), timeouts, and the final verdict on a run."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from dss_provider.checks import (
    check_choice,
    check_count,
    check_deferrable,
    check_positive,
    check_trigger_params_early,
)
from dss_provider.compat import Context
from dss_provider.exceptions import DSSError, DSSTarget, DSSTimeoutError, DSSTriggerFireCancelled
from dss_provider.hooks import waiting
from dss_provider.links.run_link import RUN_URL_XCOM_KEY
from dss_provider.operators._base import _DSSScenarioOperator
from dss_provider.operators._outcome import check_outcome
from dss_provider.operators.task_output import push_xcom
from dss_provider.protocol.models import expected_duration, run_is_finished, summarize_run
from dss_provider.protocol.polling import LATE_FIRE_MAX_POLL_INTERVAL, LATE_FIRE_POLL_INTERVAL, PollSchedule
from dss_provider.protocol.run_ref import RunRef
from dss_provider.protocol.verdict import Verdict, judge_details

#: ``_expected`` before the expected duration was looked up.
_UNKNOWN = object()
#: The choices of ``if_already_running``.
IF_ALREADY_RUNNING = ("wait", "fail", "attach")
#: Fires cancelled in a row (the scenario kept being busy) before ``if_already_running`` gives up.
MAX_CANCELLED_FIRES = 20
#: After a deadline that found the fire without a run yet, how long to watch for a late run to abort.
LATE_FIRE_GRACE_SECONDS = 30.0


class _DSSRunScenarioBase(_DSSScenarioOperator):
    """The run lifecycle of :class:`~dss_provider.operators.run_scenario.DSSRunScenarioOperator`.

    It owns the arguments the lifecycle reads (validated here) and the try's state; the operator adds
    its public face (entry points, ``ResumableJobMixin``, deferral) and ``durable``, which that mixin
    takes first.
    """

    #: Set by the operator (``ResumableJobMixin`` consumes the argument before this ``__init__``).
    durable: bool

    def __init__(
        self,
        *,
        trigger_params: dict[str, Any] | str | None,
        deferrable: bool | None,
        poll_interval: float | timedelta,
        max_poll_interval: float | timedelta,
        timeout: float | timedelta | None,
        fail_on_warning: bool,
        if_already_running: str,
        log_tail_lines: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_trigger_params_early(trigger_params)
        self.trigger_params: Any = trigger_params
        self.deferrable = check_deferrable(deferrable)
        self.poll_interval = float(check_positive(poll_interval, "poll_interval") or 0.0)
        self.max_poll_interval = max(
            float(check_positive(max_poll_interval, "max_poll_interval") or 0.0), self.poll_interval
        )
        self.timeout = check_positive(timeout, "timeout", allow_none=True)
        self.fail_on_warning = bool(fail_on_warning)
        self.if_already_running = check_choice(if_already_running, "if_already_running", IF_ALREADY_RUNNING)
        self.log_tail_lines = check_count(log_tail_lines, "log_tail_lines")
        #: This try's fire/run (``on_kill`` aborts it); None once the run has finished.
        self._active: RunRef | None = None
        self._deadline: float | None = None
        self._cancelled_fires = 0
        #: The expected duration once known (``_UNKNOWN`` before it was looked up).
        self._expected: object = _UNKNOWN

    #: Key of the task state store entry: ``{trigger_id, trigger_run_id, run_id, attached}``.
    external_id_key = "dss_scenario_run"

    def _fire(self, context: Context) -> RunRef:
        """Fire the scenario once; remember the fire before anything else can fail."""
        recent = self._recent_runs()
        fire = self.hook.fire(self.project_key, self.scenario_id, self.trigger_params, recent_runs=recent)
        state = RunRef.from_fire(fire)
        self.log.info(
            "Fired DSS %s (trigger fire %s/%s) with trigger params %s",
            self._target().describe(),
            state.trigger_id,
            state.trigger_run_id,
            self.trigger_params or {},
        )
        self._remember(context, state)
        return state

    def _on_cancelled(self, context: Context, state: RunRef, fire: dict[str, Any]) -> RunRef:
        target = self._target(**state.fire_ids)
        self._cancelled_fires += 1
        if self.if_already_running == "fail":
            raise DSSTriggerFireCancelled(
                f"DSS cancelled {target.describe()}: the scenario was already running "
                "(if_already_running='fail'). Use 'wait' or 'attach' to handle a busy scenario.",
                target=target,
            )
        if self._cancelled_fires > MAX_CANCELLED_FIRES:
            raise DSSTriggerFireCancelled(
                f"DSS cancelled {self._cancelled_fires} fires of {self._target().describe()} in a row "
                "(the scenario keeps being busy); giving up.",
                target=target,
            )
        blocking = self._blocking_run(fire)
        if self.if_already_running == "attach" and blocking is not None:
            attached = RunRef.from_run(blocking, attached=True)
            self.log.warning(
                "DSS cancelled %s: the scenario was already running. if_already_running='attach': following "
                "run %s (%s), which this task did not start and will never abort",
                target.describe(),
                blocking["runId"],
                self._url(blocking["runId"]),
            )
            self._remember(context, attached)
            return attached
        if self.if_already_running == "wait" and blocking is not None and not run_is_finished(blocking):
            self._wait_for_blocking_run(str(blocking["runId"]), target)
        else:
            self.log.warning(
                "DSS cancelled %s, and the run that blocked it has ended; firing again", target.describe()
            )
        return self._fire(context)

    def _blocking_run(self, fire: dict[str, Any]) -> dict[str, Any] | None:
        """The run that made DSS cancel a fire: the running one, else the one that ended after the fire."""
        runs = self.hook.get_recent_runs(self.project_key, self.scenario_id, limit=10)
        for run in runs:
            if not run_is_finished(run):
                return run
        fired_ms = int(fire.get("timestamp") or 0)
        ended = [r for r in runs if fired_ms and int(r.get("end") or 0) >= fired_ms]
        return min(ended, key=lambda r: int(r.get("end") or 0)) if ended else None

    def _wait_for_blocking_run(self, run_id: str, target: DSSTarget) -> None:
        blocking = self._target(run_id)
        self._active = None  # nothing of ours to abort while waiting for someone else's run
        self.log.warning(
            "DSS cancelled %s: %s was already running. if_already_running='wait': waiting for it to end "
            "(it will not be aborted), then firing again",
            target.describe(),
            blocking.describe(),
        )
        if self.deferrable:
            from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger

            trigger = DSSScenarioRunTrigger(
                self.project_key,
                self.scenario_id,
                run_id=run_id,
                dss_conn_id=self.dss_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                end_time=self._deadline,
                abort_on_kill=False,
            )
            self.defer(
                trigger=trigger,
                method_name="execute_after_blocking_run",
                kwargs={"end_time": self._deadline},
                timeout=None,
            )
        try:
            waiting.wait_for_run(
                self.hook,
                self.project_key,
                self.scenario_id,
                run_id,
                deadline=self._deadline,
                schedule=PollSchedule(self.poll_interval, self.max_poll_interval),
            )
        except DSSTimeoutError:
            raise DSSTimeoutError(
                f"The deadline passed while waiting for {blocking.describe()}, which was already running, "
                "to end; this task fired nothing and did not abort that run (it did not start it).",
                target=blocking,
            ) from None

    def _on_timeout(self, state: RunRef) -> dict[str, Any]:
        """The deadline passed: abort this task's run, then fail (report it if it ended meanwhile)."""
        if not state.run_id:
            state = self._run_of_late_fire(state)
        run_id = str(state.run_id)
        target = self._target(run_id)
        if state.attached:
            raise DSSTimeoutError(
                f"{target.describe()} had not finished at the deadline; it was not aborted because this task "
                "attached to it (if_already_running='attach') and did not start it.",
                target=target,
            )
        try:
            aborted = self.hook.abort_run(self.project_key, self.scenario_id, run_id)
        except DSSError as err:
            raise DSSTimeoutError(
                f"{target.describe()} had not finished at the deadline, and aborting it failed: {err}. "
                f"Abort it in DSS: {self._url(run_id)}",
                target=target,
            ) from None
        if not aborted:
            details = self.hook.get_run_details(self.project_key, self.scenario_id, run_id)
            if run_is_finished(details.get("scenarioRun") or {}):
                self.log.info("%s finished at the deadline; not aborted", target.describe())
                return self._finish(state, details)
        self._active = None
        raise DSSTimeoutError(
            f"{target.describe()} did not finish within {self._limit_words()}; this task aborted it in DSS.",
            target=target,
        )

    def _limit_words(self) -> str:
        """The limit that set the deadline, in words (the shorter one, as :meth:`_make_deadline` takes it)."""
        limits: list[tuple[float, str]] = []
        if self.timeout:
            limits.append((self.timeout, f"the timeout of {self.timeout:g}s"))
        if self.deferrable and self.execution_timeout:  # the worker enforces it itself otherwise
            seconds = self.execution_timeout.total_seconds()
            limits.append((seconds, f"the execution_timeout of {seconds:g}s"))
        return min(limits)[1] if limits else "the deadline"

    def _run_of_late_fire(self, state: RunRef) -> RunRef:
        """At the deadline the fire had no run yet: give it a short grace so that a run it starts
        late is caught and aborted, rather than left running with nobody watching it."""
        target = self._target(**state.fire_ids)
        try:
            fire = waiting.wait_for_fire(
                self.hook,
                self.project_key,
                self.scenario_id,
                **state.fire_ids,
                timeout=LATE_FIRE_GRACE_SECONDS,
                schedule=PollSchedule(LATE_FIRE_POLL_INTERVAL, LATE_FIRE_MAX_POLL_INTERVAL),
            )
        except DSSError as err:
            raise DSSTimeoutError(
                f"{target.describe()} had not started a run at the deadline, and DSS could not say whether "
                f"it will ({err}). Check the scenario's runs in DSS: {self._url(None)}",
                target=target,
            ) from None
        if fire.status != "run" or not fire.run:
            raise DSSTimeoutError(
                f"{target.describe()} had not started a run at the deadline (DSS then cancelled the fire); "
                "nothing was aborted.",
                target=target,
            )
        return state.with_run(fire.run["runId"])

    def _finish(self, state: RunRef, details: dict[str, Any]) -> dict[str, Any]:
        """Judge a finished run from its details (the worker path)."""
        summary = self._summary(state, details)
        return self._conclude(state, summary, judge_details(details, fail_on_warning=self.fail_on_warning))

    def _conclude(self, state: RunRef, summary: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
        """Log the verdict on the run and return its run dict, or fail the task."""
        self._active = None
        check_outcome(
            log=self.log,
            hook=self.hook,
            target=self._target(state.run_id),
            verdict=verdict,
            summary=summary,
            log_tail_lines=self.log_tail_lines,
            url=summary.get("url"),
        )
        return summary

    def _make_deadline(self) -> float | None:
        """Epoch deadline of the whole wait: ``timeout``, and ``execution_timeout`` when deferred
        (Airflow does not apply it to a deferred task)."""
        now, limits = time.time(), []
        if self.timeout:
            limits.append(now + self.timeout)
        if self.deferrable and self.execution_timeout:
            limits.append(now + self.execution_timeout.total_seconds())
        return min(limits) if limits else None

    def _expected_duration(self) -> float | None:
        """The scenario's recent mean run time (from the runs read before firing, else asked once)."""
        if self._expected is _UNKNOWN:
            try:
                self._expected = self.hook.get_expected_duration(self.project_key, self.scenario_id)
            except DSSError as err:
                self.log.debug("No expected duration for %s: %s", self._target().describe(), err)
                self._expected = None
        return self._expected  # type: ignore[return-value]

    def _recent_runs(self) -> list[dict[str, Any]] | None:
        """The scenario's newest runs before firing (best effort: None when DSS cannot list them);
        they also give the expected duration, so one request serves both."""
        try:
            runs = self.hook.get_recent_runs(self.project_key, self.scenario_id)
        except DSSError as err:
            self.log.debug("Could not list the runs of %s before firing: %s", self._target().describe(), err)
            return None
        self._expected = expected_duration(runs)
        return runs

    def _remember(self, context: Context, state: RunRef) -> None:
        """Push what is known to XCom and to the task state store, right away."""
        self._active = state
        for key, value in state.fire_ids.items():
            push_xcom(context, key, value)
        push_xcom(context, "run_id", state.run_id)
        push_xcom(context, RUN_URL_XCOM_KEY, self._url(state.run_id))
        store = context.get("task_state_store")
        if self.durable and store is not None:
            store.set(self.external_id_key, state.as_dict())

    def _summary(self, state: RunRef, details: dict[str, Any] | None) -> dict[str, Any]:
        """The run dict: from the run's details, or from the ids alone while the run is not read."""
        return dict(
            summarize_run(
                project_key=self.project_key,
                scenario_id=self.scenario_id,
                base_url=self.hook.config.web_url,
                trigger_params=None if state.attached else self.trigger_params,
                details=details,
                ids=None if details else state.as_dict(),
            )
        )
