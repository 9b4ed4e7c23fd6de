"""Scenario runs, run details, step runs, trigger fires and the run waiter."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from dss_provider.exceptions import (
    DSSBadRequestError,
    DSSScenarioRunFailed,
    DSSTarget,
    DSSTriggerFireCancelled,
)
from dss_provider.hooks import waiting
from dss_provider.protocol import endpoints
from dss_provider.protocol.models import (
    first_error_details,
    ms_to_datetime,
    run_duration,
    run_is_finished,
    run_outcome,
    step_first_error,
    step_job_ids,
    step_outcome,
)
from dss_provider.protocol.polling import DEFAULT_HANDLE_MAX_POLL_INTERVAL, PollSchedule, capped_schedule
from dss_provider.protocol.verdict import judge_details

if TYPE_CHECKING:
    from dss_provider.handles.scenario_handle import DSSScenario


def _schedule(poll_interval: float | None) -> PollSchedule | None:
    return capped_schedule(poll_interval, DEFAULT_HANDLE_MAX_POLL_INTERVAL) if poll_interval else None


def _check_outcome(
    run: DSSScenarioRun, details: DSSScenarioRunDetails | None, no_fail: bool, fail_on_warning: bool
) -> None:
    verdict = judge_details(
        details if details is not None else {"scenarioRun": run.run}, fail_on_warning=fail_on_warning
    )
    if no_fail or verdict.passed:
        return
    raise DSSScenarioRunFailed(
        f"Scenario run {run.id} of {run.scenario.project_key}.{run.scenario.id} ended {verdict.outcome}: "
        f"{verdict.reason}. Open the run in DSS for the full log.",
        outcome=verdict.outcome,
        target=DSSTarget(run.scenario.project_key, run.scenario.id, run.id),
        first_error=verdict.first_error,
        run=run.get_info(),
    )


class DSSStepRunDetails(dict[str, Any]):
    """One step run (a dict, as DSS sent it)."""

    @property
    def outcome(self) -> str | None:
        """The step's outcome (None while it runs)."""
        return step_outcome(self)

    @property
    def job_ids(self) -> list[str]:
        """The ids of the jobs the step started."""
        return step_job_ids(self)

    @property
    def first_error_details(self) -> dict[str, Any] | None:
        """The step's first error (None if none)."""
        return step_first_error(self)


class DSSScenarioRunDetails(dict[str, Any]):
    """Run details: ``scenarioRun`` and ``stepRuns`` (only started steps)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self["stepRuns"] = [DSSStepRunDetails(s) for s in data.get("stepRuns") or []]

    @property
    def steps(self) -> list[DSSStepRunDetails]:
        """The run's step runs."""
        return list(self["stepRuns"])

    @property
    def last_step(self) -> DSSStepRunDetails | None:
        """The run's last step run (None if none)."""
        steps = self.steps
        return steps[-1] if steps else None

    @property
    def first_error_details(self) -> dict[str, Any] | None:
        """The first error of the run's steps (None if none)."""
        return first_error_details(self)


class DSSScenarioRun:
    """A run of a scenario. ``get_info()`` is the raw run dict."""

    def __init__(self, scenario: DSSScenario, run: dict[str, Any]) -> None:
        self.scenario = scenario
        self.run = run

    @property
    def id(self) -> str:
        """The run id."""
        return str(self.run["runId"])

    def get_info(self) -> dict[str, Any]:
        """The run as DSS returned it."""
        return self.run

    def refresh(self) -> None:
        """Read the run again from DSS."""
        details = self.scenario.hook.get_run_details(self.scenario.project_key, self.scenario.id, self.id)
        if details.get("scenarioRun"):
            self.run = details["scenarioRun"]

    def get_details(self) -> DSSScenarioRunDetails:
        """The run's details, with its step runs."""
        details = self.scenario.hook.get_run_details(self.scenario.project_key, self.scenario.id, self.id)
        if details.get("scenarioRun"):
            self.run = details["scenarioRun"]
        return DSSScenarioRunDetails(details)

    def wait_for_completion(
        self,
        no_fail: bool = False,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        fail_on_warning: bool = False,
    ) -> DSSScenarioRun:
        """Wait until the run ends; raise on FAILED/ABORTED (and WARNING with ``fail_on_warning``).

        Nothing is raised with ``no_fail``. Unlike the official client it returns the run and accepts
        WARNING.
        """
        details = DSSScenarioRunDetails(
            waiting.wait_for_run(
                self.scenario.hook,
                self.scenario.project_key,
                self.scenario.id,
                self.id,
                timeout=timeout,
                schedule=_schedule(poll_interval),
            )
        )
        self.run = details["scenarioRun"]
        _check_outcome(self, details, no_fail, fail_on_warning)
        return self

    @property
    def running(self) -> bool:
        """Whether the run is still going."""
        return not run_is_finished(self.run)

    @property
    def outcome(self) -> str | None:
        """SUCCESS, WARNING, FAILED or ABORTED; None while the run is going (the official client raises)."""
        return run_outcome(self.run)

    @property
    def trigger(self) -> dict[str, Any]:
        """The trigger that started the run."""
        return dict((self.run.get("trigger") or {}).get("trigger") or {})

    def get_start_time(self) -> datetime | None:
        """When the run started (None before it starts)."""
        return ms_to_datetime(self.run.get("start"))

    start_time = property(get_start_time)

    def get_end_time(self) -> datetime:
        """When the run ended (an error while it runs)."""
        end = ms_to_datetime(self.run.get("end"))
        if end is None:
            raise ValueError(f"Scenario run {self.id} has not completed")
        return end

    end_time = property(get_end_time)

    def get_duration(self) -> float:
        """The run's duration in seconds (so far while it runs)."""
        return run_duration(self.run) or 0.0

    duration = property(get_duration)

    def abort(self) -> bool:
        """Abort this run only (not the scenario's current run). False if it had already finished."""
        return self.scenario.hook.abort_run(self.scenario.project_key, self.scenario.id, self.id)

    def _check_test(self) -> None:
        if not (self.run.get("scenario") or {}).get("markedAsTest", True):
            raise DSSBadRequestError(
                f"Scenario {self.scenario.project_key}.{self.scenario.id} is not marked as a test, so DSS "
                f"keeps no JUnit report for run {self.id}. Mark it as a test scenario in DSS.",
                target=DSSTarget(self.scenario.project_key, self.scenario.id, self.id),
            )

    def get_report(self) -> bytes:
        """The run's JUnit XML report (bytes)."""
        self._check_test()
        req = endpoints.get_run_report(self.scenario.project_key, self.scenario.id, self.id)
        return bytes(self.scenario.hook.execute(req))

    def get_step_run_report(self, step_id: str) -> bytes:
        """The JUnit XML report of one step of this test run."""
        self._check_test()
        req = endpoints.get_step_run_report(self.scenario.project_key, self.scenario.id, self.id, step_id)
        return bytes(self.scenario.hook.execute(req))

    def get_log(self, step_id: str | None = None) -> str:
        """The run's log (one step's with ``step_id``)."""
        return self.scenario.hook.get_run_log(self.scenario.project_key, self.scenario.id, self.id, step_id)


class DSSTriggerFire:
    """A trigger fire: what ``run()`` returns. It becomes a run, or DSS cancels it."""

    def __init__(self, scenario: DSSScenario, trigger_fire: dict[str, Any]) -> None:
        self.scenario = scenario
        self.trigger_fire = trigger_fire

    def get_raw(self) -> dict[str, Any]:
        """The trigger fire as DSS returned it."""
        return self.trigger_fire

    @property
    def trigger_id(self) -> str:
        """The id of the trigger that fired."""
        return str((self.trigger_fire.get("trigger") or {}).get("id"))

    @property
    def trigger_run_id(self) -> str:
        """The id of this fire of the trigger."""
        return str(self.trigger_fire["runId"])

    def _target(self) -> DSSTarget:
        return DSSTarget(
            self.scenario.project_key,
            self.scenario.id,
            trigger_id=self.trigger_id,
            trigger_run_id=self.trigger_run_id,
        )

    def wait_for_scenario_run(
        self, no_fail: bool = False, *, timeout: float | None = None, poll_interval: float | None = None
    ) -> DSSScenarioRun | None:
        """Wait for the run this fire starts; if DSS cancels the fire: None with ``no_fail``, else raise."""
        state = waiting.wait_for_fire(
            self.scenario.hook,
            self.scenario.project_key,
            self.scenario.id,
            self.trigger_id,
            self.trigger_run_id,
            timeout=timeout,
            schedule=_schedule(poll_interval),
        )
        if state.status == "cancelled":
            self.trigger_fire = state.fire or {**self.trigger_fire, "cancelled": True}
            if no_fail:
                return None
            raise DSSTriggerFireCancelled(
                f"DSS cancelled {self._target().describe()}: the scenario was already running or another "
                "trigger fired. Retry later, or wait for the current run.",
                target=self._target(),
            )
        assert state.run is not None
        return DSSScenarioRun(self.scenario, state.run)

    def get_scenario_run(self) -> DSSScenarioRun | None:
        """The run this fire started, or None if it has not started (yet)."""
        req = endpoints.get_run_for_trigger(
            self.scenario.project_key, self.scenario.id, self.trigger_id, self.trigger_run_id
        )
        run = (self.scenario.hook.execute(req) or {}).get("scenarioRun")
        return DSSScenarioRun(self.scenario, run) if run else None

    def is_cancelled(self, refresh: bool = False) -> bool:
        """Whether DSS cancelled the fire (read again first with ``refresh``)."""
        if refresh:
            self.trigger_fire = self.scenario.hook.execute(
                endpoints.get_trigger_fire(
                    self.scenario.project_key, self.scenario.id, self.trigger_id, self.trigger_run_id
                )
            )
        return bool(self.trigger_fire.get("cancelled"))


class DSSScenarioRunWaiter:
    """Waits for a run started by a fire (what ``run_and_wait`` uses)."""

    def __init__(self, scenario_run: DSSScenarioRun, trigger_fire: DSSTriggerFire) -> None:
        self.scenario_run = scenario_run
        self.trigger_fire = trigger_fire

    def wait(
        self,
        no_fail: bool = False,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        fail_on_warning: bool = False,
    ) -> dict[str, Any]:
        """The final run dict; raises on a refused outcome unless ``no_fail``."""
        run = self.scenario_run.wait_for_completion(
            no_fail, timeout=timeout, poll_interval=poll_interval, fail_on_warning=fail_on_warning
        )
        return run.get_info()
