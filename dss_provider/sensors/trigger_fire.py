"""DSSTriggerFireSensor: wait until a DSS trigger fire has started a run.

The modes and failure rules of both DSS sensors are in :mod:`dss_provider.sensors.base`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dss_provider.checks import check_id_early, check_rendered_id
from dss_provider.compat import (
    PokeReturnValue,
)
from dss_provider.exceptions import (
    DSSTarget,
    DSSTriggerFireCancelled,
)
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.protocol.polling import (
    DEFAULT_FIRE_MAX_POLL_INTERVAL,
    DEFAULT_FIRE_POLL_INTERVAL,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
)
from dss_provider.triggers import events

if TYPE_CHECKING:
    from dss_provider.compat import BaseTrigger, Context
from dss_provider.sensors.base import _DSSSensor


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
    :param deferrable: wait in the triggerer instead of a worker slot (default from
        ``[operators] default_deferrable``, read when the sensor is built).
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
        deferrable: bool | None = None,
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
        from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger

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
