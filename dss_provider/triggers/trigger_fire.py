"""DSSTriggerFireTrigger: wait in the triggerer until a DSS trigger fire becomes a run.

The failure policy of both DSS triggers is in :mod:`dss_provider.triggers.scenario_run`.
"""

from __future__ import annotations

from typing import Any

from dss_provider.exceptions import (
    DSSConfigurationError,
)
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.hooks.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES
from dss_provider.protocol.polling import (
    DEFAULT_FIRE_MAX_POLL_INTERVAL,
    DEFAULT_FIRE_POLL_INTERVAL,
    PollSchedule,
)
from dss_provider.triggers import events
from dss_provider.triggers._base import (
    _DSSWaitTrigger,
    _iso,
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
            "trigger_id": self.dss_trigger_id,
            "trigger_run_id": self.dss_trigger_run_id,
            "dss_conn_id": self.dss_conn_id,
            "poll_interval": self.poll_interval,
            "max_poll_interval": self.max_poll_interval,
            "end_time": self.end_time,
            "max_consecutive_failures": self.max_consecutive_failures,
        }

    def _timeout_message(self) -> str:
        return (
            f"Trigger fire {self.dss_trigger_id}/{self.dss_trigger_run_id} of {self.project_key}."
            f"{self.scenario_id} neither started a run nor was cancelled before the deadline "
            f"({_iso(self.end_time)})."
        )

    async def _wait(self, hook: DSSAsyncHook) -> dict[str, Any]:
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval)
        state = await self._wait_for_fire(hook, schedule)
        if state.status == "cancelled":
            return self._cancelled_event(state)
        return self._event(
            events.RUN_STARTED,
            f"Trigger fire {self._fire_name()} of {self.project_key}.{self.scenario_id} "
            f"started run {self._run_id}.",
            run=self._last_run,
        )
