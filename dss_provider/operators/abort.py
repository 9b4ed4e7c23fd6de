"""DSSAbortScenarioOperator (import it from :mod:`dss_provider.operators.scenario`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from dss_provider.checks import check_optional_id, check_optional_id_early, check_positive
from dss_provider.compat import Context
from dss_provider.exceptions import DSSTimeoutError
from dss_provider.hooks import waiting
from dss_provider.hooks.connection import DEFAULT_CONN_ID
from dss_provider.operators._base import _DSSScenarioOperator
from dss_provider.operators.task_output import push_xcom
from dss_provider.protocol.models import RunOutcome, run_is_finished, run_outcome
from dss_provider.protocol.polling import (
    DEFAULT_ABORT_MAX_POLL_INTERVAL,
    DEFAULT_ABORT_POLL_INTERVAL,
    capped_schedule,
)

DEFAULT_ABORT_TIMEOUT = 600.0


class DSSAbortScenarioOperator(_DSSScenarioOperator):
    """Abort a DSS scenario run: the given run if it is still running, else the scenario's current run.

    Aborting a scenario that is not running (or a run that already ended) succeeds, with a log line
    saying so. Only one run is ever aborted (through its future, as DSS does for one run).

    :param project_key: DSS project key (templated).
    :param scenario_id: scenario id (templated).
    :param run_id: the run to abort (templated; often pulled from a run task's ``run_id`` XCom).
        Without it, the scenario's current run.
    :param wait: wait until DSS reports the run finished (ABORTED).
    :param timeout: how long to wait for that (seconds or timedelta; default 10 minutes).
    :param poll_interval: seconds between two checks while waiting.
    :param dss_conn_id: a ``dataiku_dss`` connection (templated).

    Returns ``{project_key, scenario_id, run_id, aborted, outcome, url}`` (``run_id`` None when the
    scenario was not running; ``aborted`` True when this task sent the abort).
    """

    template_fields: Sequence[str] = ("project_key", "scenario_id", "run_id", "dss_conn_id")

    def __init__(
        self,
        *,
        project_key: str,
        scenario_id: str,
        run_id: str | None = None,
        wait: bool = True,
        timeout: float | timedelta = DEFAULT_ABORT_TIMEOUT,
        poll_interval: float | timedelta = DEFAULT_ABORT_POLL_INTERVAL,
        dss_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(project_key=project_key, scenario_id=scenario_id, dss_conn_id=dss_conn_id, **kwargs)
        check_optional_id_early(run_id, "run_id")
        self.run_id = run_id
        self.wait = bool(wait)
        self.timeout = float(check_positive(timeout, "timeout") or 0.0)
        self.poll_interval = float(check_positive(poll_interval, "poll_interval") or 0.0)

    def execute(self, context: Context) -> dict[str, Any]:
        """Abort the run (or the scenario's current run); what was aborted."""
        self._check_rendered()
        run_id = check_optional_id(self.run_id, "run_id")
        scenario = self.hook.get_scenario(self.project_key, self.scenario_id)
        if run_id is None:
            current = scenario.get_current_run()
            if current is None:
                self.log.info("%s is not running: nothing to abort", self._target().describe())
                return self._result(None, None, aborted=False)
            run_id = current.id
            self.log.info("%s is running %s: aborting it", self._target().describe(), run_id)
        target = self._target(run_id)
        push_xcom(context, "run_id", run_id)
        details = self.hook.get_run_details(self.project_key, self.scenario_id, run_id)
        if run_is_finished(details.get("scenarioRun") or {}):
            outcome = run_outcome(details["scenarioRun"])
            self.log.info("%s already finished (%s): nothing to abort", target.describe(), outcome)
            return self._result(run_id, details, aborted=False)
        aborted = self.hook.abort_run(self.project_key, self.scenario_id, run_id)
        if not aborted:
            self.log.info("%s finished before the abort: nothing to abort", target.describe())
        else:
            self.log.info("Asked DSS to abort %s", target.describe())
        if self.wait:
            try:
                details = waiting.wait_for_run(
                    self.hook,
                    self.project_key,
                    self.scenario_id,
                    run_id,
                    timeout=self.timeout,
                    schedule=capped_schedule(self.poll_interval, DEFAULT_ABORT_MAX_POLL_INTERVAL),
                )
            except DSSTimeoutError:
                raise DSSTimeoutError(
                    f"DSS was asked to abort {target.describe()} but still showed it running after "
                    f"{self.timeout:g}s.",
                    target=target,
                ) from None
            outcome = run_outcome(details.get("scenarioRun") or {})
            if outcome == RunOutcome.ABORTED.value:
                self.log.info("%s is ABORTED", target.describe())
            else:
                self.log.warning("%s ended %s before the abort took effect", target.describe(), outcome)
        else:
            details = self.hook.get_run_details(self.project_key, self.scenario_id, run_id)
        return self._result(run_id, details, aborted=aborted)

    def _result(self, run_id: str | None, details: dict[str, Any] | None, *, aborted: bool) -> dict[str, Any]:
        return {
            "project_key": self.project_key,
            "scenario_id": self.scenario_id,
            "run_id": run_id,
            "aborted": aborted,
            "outcome": run_outcome((details or {}).get("scenarioRun") or {}),
            "url": self._url(run_id) if run_id else None,
        }
