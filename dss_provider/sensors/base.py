"""Sensors for Dataiku DSS: wait for a trigger fire to start a run, or for a run to finish.

Both work in ``poke``, ``reschedule`` and deferrable mode (the deferrable mode checks once, then
defers to :mod:`dss_provider.triggers.scenario_run` with a wall-clock deadline of ``now + timeout``), and
return the same XCom in every mode:

- :class:`DSSTriggerFireSensor` returns the run id the fire started;
- :class:`DSSScenarioRunSensor` returns the run dict (:func:`~dss_provider.protocol.models.summarize_run`,
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
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from dss_provider.checks import (
    check_conn_id,
    check_deferrable,
    check_id_early,
    check_int,
    check_positive,
    check_rendered_id,
)
from dss_provider.compat import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
)
from dss_provider.exceptions import (
    DSSError,
    DSSTarget,
    DSSTriggerFireCancelled,
)
from dss_provider.hooks.dss import DSSHook
from dss_provider.protocol.polling import PollSchedule
from dss_provider.protocol.waiter import GiveUp, Waiter
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
        deferrable: bool | None,
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
        self.dss_conn_id = check_conn_id(dss_conn_id)
        self.deferrable = check_deferrable(deferrable)
        check_positive(self.poke_interval, "poke_interval")
        self.poll_interval = float(check_positive(poll_interval, "poll_interval") or 0.0)
        self.max_poll_interval = float(check_positive(max_poll_interval, "max_poll_interval") or 0.0)
        self.max_consecutive_failures = check_int(max_consecutive_failures, "max_consecutive_failures")
        #: One step per poke: counts the failed pokes in a row (the sensor ignores its sleeps: Airflow
        #: pokes every ``poke_interval``, and the sensor ``timeout`` is the deadline).
        self._waiter: Waiter[PokeReturnValue] = Waiter(
            PollSchedule(self.poll_interval, self.max_poll_interval),
            max_consecutive_failures=max_consecutive_failures,
        )

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
            action = self._waiter.failed(err)
            if isinstance(action, GiveUp):
                self._fail(err)
            self.log.warning(
                "Checking DSS failed (%d/%d in a row): %s; will check again",
                action.failures,
                self.max_consecutive_failures,
                err,
            )
            return False
        self._waiter.answered(result or None)
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
