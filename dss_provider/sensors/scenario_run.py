"""DSSScenarioRunSensor: wait until a DSS scenario run finishes; returns the run dict.

The modes and failure rules of both DSS sensors are in :mod:`dss_provider.sensors.base`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dss_provider.checks import check_id_early, check_rendered_id
from dss_provider.compat import (
    PokeReturnValue,
)
from dss_provider.exceptions import (
    DSSConfigurationError,
    DSSError,
    DSSScenarioRunFailed,
    DSSTarget,
)
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.protocol.models import (
    RunOutcome,
    first_error_details,
    first_warning,
    run_is_finished,
    run_outcome,
    summarize_run,
)
from dss_provider.protocol.polling import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
)
from dss_provider.protocol.verdict import judge
from dss_provider.triggers import events

if TYPE_CHECKING:
    from dss_provider.compat import BaseTrigger, Context
from dss_provider.sensors.base import _DSSSensor


class DSSScenarioRunSensor(_DSSSensor):
    """Wait until a DSS scenario run finishes; returns the run dict (XCom ``return_value``).

    Succeeds when the outcome is in ``success_outcomes``; otherwise fails with
    :class:`~dss_provider.exceptions.DSSScenarioRunFailed` carrying DSS's first error.

    :param project_key: the DSS project key (templated).
    :param scenario_id: the scenario id (templated).
    :param run_id: the run id (templated), e.g. from a :class:`DSSTriggerFireSensor`'s XCom.
    :param dss_conn_id: the ``dataiku_dss`` connection id (templated).
    :param success_outcomes: outcomes that count as success (default SUCCESS and WARNING).
    :param deferrable: wait in the triggerer instead of a worker slot (default from
        ``[operators] default_deferrable``, read when the sensor is built).
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
        deferrable: bool | None = None,
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
        from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger

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
