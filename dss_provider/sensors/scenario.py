"""Sensors for Dataiku DSS: wait for a trigger fire to start a run, or for a run to finish.

Both work in ``poke``, ``reschedule`` and deferrable mode (the deferrable mode checks once, then
defers to :mod:`dss_provider.triggers.scenario` with a wall-clock deadline of ``now + timeout``), and
return the same XCom in every mode:

- :class:`DSSTriggerFireSensor` returns the run id the fire started;
- :class:`DSSScenarioRunSensor` returns the run dict (:func:`~dss_provider.api.models.summarize_run`,
  with steps).

Failures: a cancelled fire raises :class:`~dss_provider.exceptions.DSSTriggerFireCancelled`, a run
that ends with an outcome not in ``success_outcomes`` raises
:class:`~dss_provider.exceptions.DSSScenarioRunFailed` (with DSS's first error), a permanent DSS error
(401, 403, 404, 400) raises its own class, and ``max_consecutive_failures`` transient failures in a row
raise the last one. ``soft_fail`` and ``never_fail`` turn every one of these into a skip, in every mode
(Airflow's own handling only covers some of them in ``poke`` mode); the sensor ``timeout`` raises
``AirflowSensorTimeout`` (a skip with ``soft_fail``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from dss_provider.api.models import (
    RunOutcome,
    first_error_details,
    first_warning,
    run_is_finished,
    run_outcome,
    summarize_run,
)
from dss_provider.api.polling import (
    DEFAULT_FIRE_MAX_POLL_INTERVAL,
    DEFAULT_FIRE_POLL_INTERVAL,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    FailureBudget,
)
from dss_provider.api.retry import is_transient
from dss_provider.api.verdict import judge
from dss_provider.checks import check_id_early, check_positive, check_rendered_id
from dss_provider.compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)
from dss_provider.exceptions import (
    DSSConfigurationError,
    DSSError,
    DSSScenarioRunFailed,
    DSSTarget,
    DSSTriggerFireCancelled,
)
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss import DSSHook
from dss_provider.hooks.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES
from dss_provider.triggers import events
from dss_provider.triggers.events import exception_from_event

if TYPE_CHECKING:
    from dss_provider.compat import BaseTrigger, Context

#: Extra time given to the framework's trigger timeout, so the trigger's own ``timeout`` event (with a
#: clear message) normally arrives first.
DEFER_TIMEOUT_GRACE = 60.0


class _DSSSensor(BaseSensorOperator):
    """What both DSS sensors share: the hook, failure handling and the deferrable flow."""

    template_fields: Sequence[str] = ("project_key", "scenario_id", "dss_conn_id")

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        dss_conn_id: str,
        deferrable: bool,
        poll_interval: float,
        max_poll_interval: float,
        max_consecutive_failures: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_id_early(project_key, "project_key")
        self.project_key = project_key
        check_id_early(scenario_id, "scenario_id")
        self.scenario_id = scenario_id
        if not isinstance(dss_conn_id, str) or not dss_conn_id.strip():
            raise DSSConfigurationError(f"dss_conn_id must be a non-empty string, got {dss_conn_id!r}.")
        self.dss_conn_id = dss_conn_id
        if not isinstance(deferrable, bool):
            raise DSSConfigurationError(f"deferrable must be True or False, got {deferrable!r}.")
        self.deferrable = deferrable
        check_positive(self.poke_interval, "poke_interval")
        self.poll_interval = float(check_positive(poll_interval, "poll_interval") or 0.0)
        self.max_poll_interval = float(check_positive(max_poll_interval, "max_poll_interval") or 0.0)
        if (
            isinstance(max_consecutive_failures, bool)
            or not isinstance(max_consecutive_failures, int)
            or max_consecutive_failures < 1
        ):
            raise DSSConfigurationError(
                f"max_consecutive_failures must be an integer >= 1, got {max_consecutive_failures!r}."
            )
        self.max_consecutive_failures = max_consecutive_failures
        self._budget = FailureBudget(max_consecutive_failures)

    @cached_property
    def hook(self) -> DSSHook:
        return DSSHook(self.dss_conn_id)

    # --- to be provided by each sensor ---------------------------------------------------------

    def _check(self) -> PokeReturnValue:
        """One look at DSS: done (with the XCom value) or not; raises on failure."""
        raise NotImplementedError

    def _make_trigger(self, end_time: float) -> BaseTrigger:
        raise NotImplementedError

    def _validate_rendered(self) -> None:
        self.project_key = check_rendered_id(self.project_key, "project_key")
        self.scenario_id = check_rendered_id(self.scenario_id, "scenario_id")

    # --- shared flow ---------------------------------------------------------------------------

    def _fail(self, err: BaseException) -> NoReturn:
        """Raise ``err``, or a skip when ``soft_fail`` / ``never_fail`` asks for one."""
        if isinstance(err, AirflowSkipException):
            raise err
        if self.soft_fail:
            raise AirflowSkipException(f"Skipping due to soft_fail: {err}") from err
        if self.never_fail:
            raise AirflowSkipException(f"Skipping due to never_fail: {err}") from err
        raise err

    def poke(self, context: Context) -> bool | PokeReturnValue:
        self._validate_rendered()
        try:
            result = self._check()
        except DSSError as err:
            if is_transient(err) and self._budget.failure():
                self.log.warning(
                    "Checking DSS failed (%d/%d in a row): %s; will check again",
                    self._budget.failures,
                    self.max_consecutive_failures,
                    err,
                )
                return False
            self._fail(err)
        self._budget.success()
        return result

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        started = time.time()
        try:
            result = self.poke(context)
        except AirflowSkipException:
            raise
        except Exception as err:
            self._fail(err)
        if result:
            self.log.info("Success criteria met on the first check; not deferring.")
            return result.xcom_value if isinstance(result, PokeReturnValue) else None
        end_time = started + self.timeout
        self.log.info("Deferring until DSS reports back (deadline in %.0fs)", self.timeout)
        self.defer(
            trigger=self._make_trigger(end_time),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFER_TIMEOUT_GRACE),
        )

    def _event(self, event: object, allowed: frozenset[str]) -> dict[str, Any]:
        event = events.validate_event(event, allowed, task=f"Task {self.task_id!r}")
        status = event["status"]
        if status == events.TIMEOUT:
            raise AirflowSensorTimeout(f"Sensor has timed out: {event.get('message')}")
        if status == events.ERROR:
            raise exception_from_event(event)
        if status == events.CANCELLED:
            raise DSSTriggerFireCancelled(
                str(event.get("message") or "DSS cancelled the trigger fire."),
                target=DSSTarget(
                    project_key=event.get("project_key"),
                    scenario_id=event.get("scenario_id"),
                    trigger_id=event.get("trigger_id"),
                    trigger_run_id=event.get("trigger_run_id"),
                ),
            )
        return event


class DSSTriggerFireSensor(_DSSSensor):
    """Wait until a DSS trigger fire has started a run; returns the run id (XCom ``return_value``).

    Chain it after ``DSSRunScenarioOperator(wait_for_completion=False)``::

        DSSTriggerFireSensor(
            task_id="started",
            project_key="DEMO",
            scenario_id="BUILD_SALES",
            trigger_id="{{ ti.xcom_pull(task_ids='fire')['trigger_id'] }}",
            trigger_run_id="{{ ti.xcom_pull(task_ids='fire')['trigger_run_id'] }}",
        )

    Fails with :class:`~dss_provider.exceptions.DSSTriggerFireCancelled` when DSS cancels the fire.

    :param project_key: the DSS project key (templated).
    :param scenario_id: the scenario id (templated).
    :param trigger_id: the fire's trigger id (templated).
    :param trigger_run_id: the fire's id (templated).
    :param dss_conn_id: the ``dataiku_dss`` connection id (templated).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: shortest gap between polls of the trigger (deferrable mode).
    :param max_poll_interval: longest gap between polls of the trigger (deferrable mode).
    :param max_consecutive_failures: transient DSS failures in a row that fail the sensor (counted per
        try in ``reschedule`` mode; the trigger counts them in deferrable mode).
    """

    template_fields: Sequence[str] = (
        "project_key",
        "scenario_id",
        "trigger_id",
        "trigger_run_id",
        "dss_conn_id",
    )
    ui_color = "#e1f5fe"

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        trigger_id: str,
        trigger_run_id: str,
        dss_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_FIRE_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_FIRE_MAX_POLL_INTERVAL,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        poke_interval: float | timedelta = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            project_key=project_key,
            scenario_id=scenario_id,
            dss_conn_id=dss_conn_id,
            deferrable=deferrable,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            max_consecutive_failures=max_consecutive_failures,
            poke_interval=poke_interval,
            **kwargs,
        )
        check_id_early(trigger_id, "trigger_id")
        self.trigger_id = trigger_id
        check_id_early(trigger_run_id, "trigger_run_id")
        self.trigger_run_id = trigger_run_id

    def _validate_rendered(self) -> None:
        super()._validate_rendered()
        self.trigger_id = check_rendered_id(self.trigger_id, "trigger_id")
        self.trigger_run_id = check_rendered_id(self.trigger_run_id, "trigger_run_id")

    def _check(self) -> PokeReturnValue:
        state = self.hook.resolve_fire(
            self.project_key, self.scenario_id, self.trigger_id, self.trigger_run_id
        )
        where = (
            f"trigger fire {self.trigger_id}/{self.trigger_run_id} of {self.project_key}.{self.scenario_id}"
        )
        if state.status == "run" and state.run:
            run_id = str(state.run.get("runId"))
            self.log.info("%s started run %s", where.capitalize(), run_id)
            return PokeReturnValue(True, run_id)
        if state.status == "cancelled":
            raise DSSTriggerFireCancelled(
                f"DSS cancelled {where}: no run was started (the scenario was probably already running, "
                "or the fire was aborted).",
                target=DSSTarget(
                    project_key=self.project_key,
                    scenario_id=self.scenario_id,
                    trigger_id=self.trigger_id,
                    trigger_run_id=self.trigger_run_id,
                ),
            )
        self.log.info("%s has not started a run yet", where.capitalize())
        return PokeReturnValue(False)

    def _make_trigger(self, end_time: float) -> BaseTrigger:
        from dss_provider.triggers.scenario import DSSTriggerFireTrigger

        return DSSTriggerFireTrigger(
            project_key=self.project_key,
            scenario_id=self.scenario_id,
            trigger_id=self.trigger_id,
            trigger_run_id=self.trigger_run_id,
            dss_conn_id=self.dss_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            end_time=end_time,
            max_consecutive_failures=self.max_consecutive_failures,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume from :class:`DSSTriggerFireTrigger`: the run id, or the failure the event reports."""
        checked = self._event(event, events.FIRE_TRIGGER_STATUSES)
        self.log.info("%s", checked.get("message"))
        return str(checked["run_id"])


class DSSScenarioRunSensor(_DSSSensor):
    """Wait until a DSS scenario run finishes; returns the run dict (XCom ``return_value``).

    Succeeds when the outcome is in ``success_outcomes``; otherwise fails with
    :class:`~dss_provider.exceptions.DSSScenarioRunFailed` carrying DSS's first error.

    :param project_key: the DSS project key (templated).
    :param scenario_id: the scenario id (templated).
    :param run_id: the run id (templated), e.g. from a :class:`DSSTriggerFireSensor`'s XCom.
    :param dss_conn_id: the ``dataiku_dss`` connection id (templated).
    :param success_outcomes: outcomes that count as success (default SUCCESS and WARNING).
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: shortest gap between polls of the trigger (deferrable mode).
    :param max_poll_interval: longest gap between polls of the trigger (deferrable mode).
    :param max_consecutive_failures: transient DSS failures in a row that fail the sensor (counted per
        try in ``reschedule`` mode; the trigger counts them in deferrable mode).
    """

    template_fields: Sequence[str] = ("project_key", "scenario_id", "run_id", "dss_conn_id")
    ui_color = "#e1f5fe"

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        run_id: str,
        dss_conn_id: str = DEFAULT_CONN_ID,
        success_outcomes: Iterable[str] = ("SUCCESS", "WARNING"),
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        poke_interval: float | timedelta = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            project_key=project_key,
            scenario_id=scenario_id,
            dss_conn_id=dss_conn_id,
            deferrable=deferrable,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            max_consecutive_failures=max_consecutive_failures,
            poke_interval=poke_interval,
            **kwargs,
        )
        check_id_early(run_id, "run_id")
        self.run_id = run_id
        self.success_outcomes = self._check_outcomes(success_outcomes)

    @staticmethod
    def _check_outcomes(value: Iterable[str]) -> tuple[str, ...]:
        if isinstance(value, str):
            value = (value,)
        try:
            outcomes = tuple(RunOutcome.parse(v).value for v in value)
        except (TypeError, ValueError) as err:
            raise DSSConfigurationError(f"success_outcomes is invalid: {err}.") from None
        if not outcomes:
            raise DSSConfigurationError("success_outcomes must name at least one outcome (e.g. SUCCESS).")
        return outcomes

    def _validate_rendered(self) -> None:
        super()._validate_rendered()
        self.run_id = check_rendered_id(
            self.run_id,
            "run_id",
            " The upstream task had not started a run yet: chain a DSSTriggerFireSensor first and use its "
            "return value as run_id.",
        )

    def _target(self) -> DSSTarget:
        return DSSTarget(project_key=self.project_key, scenario_id=self.scenario_id, run_id=self.run_id)

    def _result(
        self,
        outcome: str,
        run: dict[str, Any],
        first_error: dict[str, Any] | None,
        warning: str | None = None,
    ) -> dict[str, Any]:
        """The run dict when ``outcome`` is accepted; else raise DSSScenarioRunFailed."""
        verdict = judge(outcome, accepted=self.success_outcomes, first_error=first_error, warning=warning)
        if verdict.passed:
            self.log.info(
                "Run %s of %s.%s finished with %s", self.run_id, self.project_key, self.scenario_id, outcome
            )
            return run
        raise DSSScenarioRunFailed(
            f"Run {self.run_id} of {self.project_key}.{self.scenario_id} finished with outcome {outcome} "
            f"(accepted: {', '.join(self.success_outcomes)}): {verdict.reason}. "
            f"See {run.get('url') or 'the scenario in DSS'}.",
            outcome=outcome,
            target=self._target(),
            first_error=first_error,
            run=run,
        )

    def _check(self) -> PokeReturnValue:
        details = self.hook.get_run_details(self.project_key, self.scenario_id, self.run_id)
        run = details.get("scenarioRun") or {}
        if not run_is_finished(run):
            self.log.info("Run %s of %s.%s is still running", self.run_id, self.project_key, self.scenario_id)
            return PokeReturnValue(False)
        summary = dict(
            summarize_run(
                project_key=self.project_key,
                scenario_id=self.scenario_id,
                base_url=self.hook.config.web_url,
                details=details,
            )
        )
        outcome = run_outcome(run) or "UNKNOWN"
        return PokeReturnValue(
            True, self._result(outcome, summary, first_error_details(details), first_warning(details))
        )

    def _make_trigger(self, end_time: float) -> BaseTrigger:
        from dss_provider.triggers.scenario import DSSScenarioRunTrigger

        return DSSScenarioRunTrigger(
            project_key=self.project_key,
            scenario_id=self.scenario_id,
            run_id=self.run_id,
            dss_conn_id=self.dss_conn_id,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            end_time=end_time,
            abort_on_kill=False,
            max_consecutive_failures=self.max_consecutive_failures,
            expected_duration=self._expected_duration(),
        )

    def _expected_duration(self) -> float | None:
        """The scenario's recent average duration, for the trigger's adaptive polling (best effort)."""
        try:
            return self.hook.get_expected_duration(self.project_key, self.scenario_id)
        except DSSError as err:
            self.log.debug("No expected duration for %s: %s", self._target().describe(), err)
            return None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume from :class:`DSSScenarioRunTrigger`: the run dict, or the failure the event reports."""
        checked = self._event(event, events.RUN_TRIGGER_STATUSES)
        return self._result(
            str(checked["outcome"]), dict(checked["run"]), checked.get("first_error"), checked.get("warning")
        )


__all__ = ["DSSScenarioRunSensor", "DSSTriggerFireSensor"]
