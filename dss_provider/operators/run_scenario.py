"""Operators for Dataiku DSS scenarios: run, wait, abort, fetch a run's log or JUnit report.

A run waits in the worker or deferred.

A DSS run request answers a *trigger fire*, not a run. The run operator resolves its own fire to its own
run (``get-run-for-trigger``, never "the latest run"), pushes ``trigger_id``, ``trigger_run_id``,
``run_id`` and ``run_url`` to XCom as soon as each is known, and returns the same run dict in every mode
(:func:`dss_provider.protocol.models.summarize_run`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from dss_provider.checks import (
    parse_trigger_params,
)
from dss_provider.compat import (
    Context,
    ResumableJobMixin,
    durable_kwargs,
    note_durable_unavailable,
    note_trigger_on_kill_unavailable,
)
from dss_provider.exceptions import DSSNotFoundError, DSSTimeoutError, DSSTriggerFireCancelled
from dss_provider.hooks import waiting
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss import DSSHook
from dss_provider.links.run_link import DSSScenarioRunLink
from dss_provider.operators._run_base import _UNKNOWN, _DSSRunScenarioBase
from dss_provider.operators.abort import DSSAbortScenarioOperator
from dss_provider.operators.progress import StepProgress
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.task_output import DEFAULT_LOG_TAIL_LINES
from dss_provider.protocol.models import RunOutcome, run_is_finished, run_outcome
from dss_provider.protocol.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    PollSchedule,
    fire_schedule,
)
from dss_provider.protocol.run_ref import RunRef
from dss_provider.protocol.verdict import judge
from dss_provider.triggers import events
from dss_provider.triggers.events import exception_from_event

__all__ = [
    "DSSAbortScenarioOperator",
    "DSSGetScenarioRunLogOperator",
    "DSSGetScenarioRunReportOperator",
    "DSSRunScenarioOperator",
]


class DSSRunScenarioOperator(ResumableJobMixin, _DSSRunScenarioBase):
    """Run a DSS scenario and wait for it, in the worker or deferred to the triggerer.

    :param project_key: DSS project key (templated).
    :param scenario_id: scenario id (templated).
    :param trigger_params: the scenario's trigger params, a JSON object (templated). Not ``params``,
        which Airflow reserves for DAG params.
    :param dss_conn_id: a ``dataiku_dss`` connection (templated).
    :param wait_for_completion: wait for the run to end (default). When False, fire and return the
        fire's ids and URL, for a sensor to take over.
    :param deferrable: wait in the triggerer, freeing the worker slot (default from
        ``[operators] default_deferrable``).
    :param poll_interval: seconds between polls at first (polls then space out, see ``PollSchedule``).
    :param max_poll_interval: the longest gap between two polls.
    :param timeout: wall-clock limit of the whole wait (seconds or a timedelta): when it passes, the
        run is aborted and the task fails with :class:`~dss_provider.exceptions.DSSTimeoutError`.
    :param fail_on_warning: fail the task when the run ends WARNING (by default it passes, with a warning).
    :param if_already_running: when DSS cancels the fire because the scenario is already running:
        ``"wait"`` for that run to end, then fire again; ``"fail"``; or ``"attach"`` to follow that run
        (a run this task did not start is never aborted, not on timeout and not on kill).
    :param abort_on_kill: abort the run when the task is killed (worker ``on_kill``, or the trigger's
        ``on_kill`` when deferred).
    :param log_tail_lines: lines of the failed step's log copied into the task log on failure.
    :param durable: remember the fire and run in the task state store, so that a retry after a worker
        crash reattaches to this try's run instead of firing a second one (Airflow 3.3).
    """

    template_fields: Sequence[str] = ("project_key", "scenario_id", "trigger_params", "dss_conn_id")
    template_fields_renderers = {"trigger_params": "json"}
    operator_extra_links = (DSSScenarioRunLink(),)

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        trigger_params: dict[str, Any] | str | None = None,
        dss_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | timedelta = DEFAULT_MAX_POLL_INTERVAL,
        timeout: float | timedelta | None = None,
        fail_on_warning: bool = False,
        if_already_running: str = "wait",
        abort_on_kill: bool = True,
        log_tail_lines: int = DEFAULT_LOG_TAIL_LINES,
        durable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            project_key=project_key,
            scenario_id=scenario_id,
            dss_conn_id=dss_conn_id,
            trigger_params=trigger_params,
            deferrable=deferrable,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            timeout=timeout,
            fail_on_warning=fail_on_warning,
            if_already_running=if_already_running,
            log_tail_lines=log_tail_lines,
            **durable_kwargs(durable),
            **kwargs,
        )
        self.durable = durable  # what was asked; it acts where Airflow has the task state store (3.3)
        self.wait_for_completion = bool(wait_for_completion)
        self.abort_on_kill = bool(abort_on_kill)
        self._result: dict[str, Any] | None = None

    # --- entry points ----------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        """Fire the scenario (or resume the fired run) and wait for it, here or deferred; the run dict."""
        self._check_rendered()
        self._deadline = self._make_deadline()
        self._result = None
        self._expected = _UNKNOWN
        note_durable_unavailable(self.log, self.durable)
        return self.execute_resumable(context)

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, attached: bool = False
    ) -> dict[str, Any]:
        """Resume after :class:`DSSScenarioRunTrigger` sent its event."""
        self._check_rendered()
        event = events.validate_event(event, events.RUN_TRIGGER_STATUSES, task=f"Task {self.task_id}")
        state = RunRef(event.get("trigger_id"), event.get("trigger_run_id"), event.get("run_id"), attached)
        self._active = state
        status = event["status"]
        if status == events.FINISHED:
            if event["outcome"] == RunOutcome.WARNING.value and "warning" not in event:
                # An event of an older trigger, without the warning text: read it from DSS.
                details = self.hook.get_run_details(self.project_key, self.scenario_id, str(state.run_id))
                return self._finish(state, details)
            verdict = judge(
                event["outcome"],
                fail_on_warning=self.fail_on_warning,
                first_error=event.get("first_error"),
                warning=event.get("warning"),
            )
            return self._conclude(state, dict(event["run"]), verdict)
        if status == events.TIMEOUT:
            return self._on_timeout(state)
        if status == events.CANCELLED:
            raise DSSTriggerFireCancelled(
                str(event.get("message") or "DSS cancelled the trigger fire."),
                target=self._target(**state.fire_ids),
            )
        raise exception_from_event(event)

    def execute_after_blocking_run(
        self, context: Context, event: dict[str, Any] | None = None, end_time: float | None = None
    ) -> Any:
        """Resume after the run that was already going ended (``if_already_running="wait"``, deferred)."""
        self._check_rendered()
        self._deadline = end_time
        event = events.validate_event(event, events.RUN_TRIGGER_STATUSES, task=f"Task {self.task_id}")
        blocking = self._target(event.get("run_id")).describe()
        if event["status"] == events.TIMEOUT:
            raise DSSTimeoutError(
                f"The deadline passed while waiting for {blocking}, which was already running, to end; "
                "this task fired nothing and did not abort that run (it did not start it).",
                target=self._target(event.get("run_id")),
            )
        if event["status"] == events.ERROR:
            raise exception_from_event(event)
        self.log.info(
            "%s ended (%s); firing the scenario now", blocking, event.get("outcome") or event["status"]
        )
        return self.poll_until_complete(self.submit_job(context), context)

    def on_kill(self) -> None:
        """Abort this try's run (never a run it attached to) when ``abort_on_kill``; best effort."""
        state = self._active
        if not state:
            return
        where = self._target(state.run_id).describe()
        if state.attached:
            self.log.info("Task killed; %s was not started by this task, so it is left running", where)
            return
        if not self.abort_on_kill:
            self.log.info("Task killed; abort_on_kill=False, so %s is left running in DSS", where)
            return
        hook = DSSHook(self.dss_conn_id)
        try:
            run_id = state.run_id
            if not run_id and state.trigger_id:
                fire = hook.resolve_fire(self.project_key, self.scenario_id, **state.fire_ids)
                run_id = (fire.run or {}).get("runId") if fire.status == "run" else None
            if not run_id:
                self.log.warning(
                    "Task killed; the trigger fire had not started a run, so nothing was aborted"
                )
                return
            if hook.abort_run(self.project_key, self.scenario_id, str(run_id)):
                self.log.info("Task killed: aborted %s in DSS", self._target(run_id).describe())
            else:
                self.log.info("Task killed: %s had already finished", self._target(run_id).describe())
        except Exception as err:  # on_kill must not raise
            self.log.warning("Task killed, but aborting %s failed: %s", where, err)
        finally:
            hook.close()

    # --- ResumableJobMixin -----------------------------------------------------------------------

    def submit_job(self, context: Context) -> dict[str, Any]:
        """Fire the scenario once (:meth:`_fire`); the fire in the JSON form the mixin stores."""
        return self._fire(context).as_dict()

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """``PENDING``/``RUNNING``, the run's outcome, or ``CANCELLED``/``NOT_FOUND``/``UNKNOWN``."""
        state = RunRef.parse(external_id)
        if state is None:
            return "UNKNOWN"
        try:
            if state.run_id:
                details = self.hook.get_run_details(self.project_key, self.scenario_id, state.run_id)
                run = details.get("scenarioRun") or {}
            else:
                fire = self.hook.resolve_fire(self.project_key, self.scenario_id, **state.fire_ids)
                if fire.status != "run":
                    return "PENDING" if fire.status == "pending" else "CANCELLED"
                run = fire.run or {}
                if isinstance(external_id, dict):  # the mixin passes this entry on to what follows
                    external_id["run_id"] = run.get("runId")
        except DSSNotFoundError as err:
            # Only DSS saying "no such run/fire" (forgotten history) allows a new fire; any other
            # failure propagates, so that a retry never fires a second run next to a live one.
            self.log.warning("DSS no longer knows the previous try's run (%s); firing a new one", err)
            return "NOT_FOUND"
        return run_outcome(run) or "RUNNING"

    def is_job_active(self, status: str) -> bool:
        """Whether a run in this state is still going (``ResumableJobMixin``)."""
        return status in ("PENDING", "RUNNING")

    def is_job_succeeded(self, status: str) -> bool:
        """Whether a run with this outcome succeeded (``ResumableJobMixin``)."""
        return status == RunOutcome.SUCCESS.value or (
            status == RunOutcome.WARNING.value and not self.fail_on_warning
        )

    def poll_until_complete(self, external_id: Any, context: Context) -> Any:
        """Follow the fire to its run and wait for the run (or defer); the run dict."""
        state = RunRef.parse(external_id) or RunRef()
        self._remember(context, state)
        if not self.wait_for_completion:
            self.log.info(
                "wait_for_completion=False: not waiting; a sensor can follow trigger fire %s/%s",
                state.trigger_id,
                state.trigger_run_id,
            )
            self._active = None
            self._result = self._summary(state, None)
        else:
            self._result = self._wait_for_run(context, self._resolve_run(context, state))
        return self._result

    def get_job_result(self, external_id: Any, context: Context) -> Any:
        """The run dict of a finished run (``ResumableJobMixin``)."""
        if self._result is not None:
            return self._result
        # The previous try's run already succeeded: report it without firing again.
        state = RunRef.parse(external_id) or RunRef()
        self._remember(context, state)
        if not self.wait_for_completion or not state.run_id:
            return self._summary(state, None)
        return self._finish(
            state, self.hook.get_run_details(self.project_key, self.scenario_id, state.run_id)
        )

    # --- the wait --------------------------------------------------------------------------------

    def _resolve_run(self, context: Context, state: RunRef) -> RunRef:
        """Wait for the fire to start a run; a cancelled fire is handled by ``if_already_running``."""
        while not state.run_id:
            fire = waiting.wait_for_fire(
                self.hook,
                self.project_key,
                self.scenario_id,
                **state.fire_ids,
                deadline=self._deadline,
                schedule=fire_schedule(self.poll_interval),
            )
            if fire.status == "run":
                state = state.with_run((fire.run or {})["runId"])
                self.log.info(
                    "Trigger fire %s/%s started run %s: %s",
                    state.trigger_id,
                    state.trigger_run_id,
                    state.run_id,
                    self._url(state.run_id),
                )
                self._remember(context, state)
            else:
                state = self._on_cancelled(context, state, fire.fire or {})
        return state

    def _wait_for_run(self, context: Context, state: RunRef) -> dict[str, Any]:
        run_id = str(state.run_id)
        details = self.hook.get_run_details(self.project_key, self.scenario_id, run_id)
        progress = StepProgress(self.log, f"Run {run_id}")
        if run_is_finished(details.get("scenarioRun") or {}):
            self.log.info("%s has already finished", self._target(run_id).describe())
            progress(details)  # its steps all the same: a short run can end before the first look
            return self._finish(state, details)
        if self.deferrable:
            self._defer(state)
        self.log.info(
            "Waiting for %s in the worker: %s%s",
            self._target(run_id).describe(),
            self._url(run_id),
            f" (timeout {self.timeout:g}s)" if self.timeout else "",
        )
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval, self._expected_duration())
        progress(details)
        try:
            details = waiting.wait_for_run(
                self.hook,
                self.project_key,
                self.scenario_id,
                run_id,
                deadline=self._deadline,
                schedule=schedule,
                on_poll=progress,
            )
        except DSSTimeoutError:
            return self._on_timeout(state)
        return self._finish(state, details)

    def _defer(self, state: RunRef) -> None:
        from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger

        attached = state.attached
        trigger = DSSScenarioRunTrigger(
            self.project_key,
            self.scenario_id,
            run_id=str(state.run_id),
            **state.fire_ids,
            dss_conn_id=self.dss_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            expected_duration=self._expected_duration(),
            end_time=self._deadline,
            abort_on_kill=self.abort_on_kill and not attached,
            trigger_params=None if attached else self.trigger_params,
        )
        self.log.info(
            "Deferring: the triggerer waits for %s (%s)%s",
            self._target(state.run_id).describe(),
            self._url(state.run_id),
            f", deadline {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self._deadline))}"
            if self._deadline
            else "",
        )
        note_trigger_on_kill_unavailable(self.log, trigger.abort_on_kill)
        self.defer(
            trigger=trigger, method_name="execute_complete", kwargs={"attached": attached}, timeout=None
        )

    # --- small helpers ---------------------------------------------------------------------------

    def _check_rendered(self) -> None:
        super()._check_rendered()
        self.trigger_params = parse_trigger_params(self.trigger_params)
