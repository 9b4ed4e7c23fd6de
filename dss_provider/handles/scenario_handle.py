"""DSSScenario: the handle on one scenario, with the official client's method names."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from dss_provider.exceptions import DSSNotFoundError, DSSTarget
from dss_provider.handles.misc import DSSObjectDiscussions, DSSScenarioStatus
from dss_provider.handles.runs import DSSScenarioRun, DSSScenarioRunWaiter, DSSTriggerFire
from dss_provider.handles.settings import (
    DSSScenarioSettings,
    PythonScriptBasedScenarioSettings,
    StepBasedScenarioSettings,
)
from dss_provider.protocol import endpoints
from dss_provider.protocol.models import RunOutcome, run_duration, run_is_finished

if TYPE_CHECKING:
    from dss_provider.hooks.dss import DSSHook

_GOOD = (RunOutcome.SUCCESS.value, RunOutcome.WARNING.value)


class DSSScenario:
    """A scenario of a project. Get it with ``DSSHook.get_scenario(project_key, scenario_id)``."""

    def __init__(self, hook: DSSHook, project_key: str, scenario_id: str) -> None:
        self.hook = hook
        self.project_key = project_key
        self.id = scenario_id

    def __repr__(self) -> str:
        return f"DSSScenario({self.project_key!r}, {self.id!r})"

    def _target(self) -> DSSTarget:
        return DSSTarget(self.project_key, self.id)

    # --- running -------------------------------------------------------------------------------

    def abort(self) -> dict[str, Any]:
        """Abort the scenario's current run, whoever started it (no-op when idle).

        To abort one specific run, use ``DSSScenarioRun.abort()`` or ``DSSHook.abort_run``.
        """
        return dict(self.hook.execute(endpoints.abort_scenario(self.project_key, self.id)) or {})

    def run(self, params: dict[str, Any] | None = None) -> DSSTriggerFire:
        """Fire the scenario's manual trigger; returns the trigger fire (not a run). Never fires twice."""
        return self.hook.fire_scenario(self.project_key, self.id, params)

    def run_and_wait(
        self,
        params: dict[str, Any] | None = None,
        no_fail: bool = False,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        fail_on_warning: bool = False,
    ) -> DSSScenarioRun | None:
        """Fire, wait for the run, wait for its end.

        Unlike the official client: WARNING passes unless ``fail_on_warning``; a cancelled fire raises
        ``DSSTriggerFireCancelled`` (or returns None with ``no_fail``) instead of crashing; the wait has a
        ``timeout`` (seconds) covering both phases.
        """
        fire = self.run(params)
        deadline_start = datetime.now(timezone.utc)
        run = fire.wait_for_scenario_run(no_fail, timeout=timeout, poll_interval=poll_interval)
        if run is None:
            return None
        remaining = None
        if timeout is not None:
            remaining = max(timeout - (datetime.now(timezone.utc) - deadline_start).total_seconds(), 0.001)
        DSSScenarioRunWaiter(run, fire).wait(
            no_fail, timeout=remaining, poll_interval=poll_interval, fail_on_warning=fail_on_warning
        )
        return run

    # --- history -------------------------------------------------------------------------------

    def get_last_runs(self, limit: int = 10, only_finished_runs: bool = False) -> list[DSSScenarioRun]:
        """The scenario's last ``limit`` runs, newest first (only finished ones if asked)."""
        runs = self.hook.execute(
            endpoints.get_last_runs(self.project_key, self.id, limit, only_finished_runs)
        )
        return [DSSScenarioRun(self, r) for r in runs]

    def get_runs_by_date(
        self, from_date: date | datetime | str, to_date: date | datetime | str | None = None
    ) -> list[DSSScenarioRun]:
        """Runs from ``from_date`` (inclusive) to ``to_date`` (exclusive; default: tomorrow).

        Tomorrow is computed at call time, not at import time as in the official client.
        """
        if to_date is None:
            to_date = datetime.now(timezone.utc) + timedelta(days=1)
        runs = self.hook.execute(endpoints.get_runs_by_date(self.project_key, self.id, from_date, to_date))
        return [DSSScenarioRun(self, r) for r in runs]

    def get_last_finished_run(self) -> DSSScenarioRun:
        """The scenario's last finished run (an error if it never finished one)."""
        return DSSScenarioRun(self, self.hook.get_last_finished_run(self.project_key, self.id))

    def get_last_successful_run(self, limit: int = 50) -> DSSScenarioRun:
        """The newest run that ended SUCCESS (the official client returns the newest finished run)."""
        for run in self.get_last_runs(limit=limit, only_finished_runs=True):
            if run.outcome == RunOutcome.SUCCESS.value:
                return run
        raise DSSNotFoundError(
            f"{self._target().describe()} has no successful run among its last {limit} finished runs.",
            target=self._target(),
        )

    def get_current_run(self) -> DSSScenarioRun | None:
        """The scenario's run in progress (None if none)."""
        runs = self.get_last_runs(limit=1, only_finished_runs=False)
        if not runs or run_is_finished(runs[0].run):
            return None
        return runs[0]

    def get_run(self, run_id: str) -> DSSScenarioRun:
        """The run ``run_id`` of the scenario."""
        details = self.hook.get_run_details(self.project_key, self.id, run_id)
        return DSSScenarioRun(self, details["scenarioRun"])

    def get_average_duration(self, limit: int = 3) -> float | None:
        """Mean duration (s) of the last ``limit`` SUCCESS/WARNING runs, or None if there are fewer.

        The official client averages every finished run, failures included.
        """
        runs = self.hook.execute(endpoints.get_last_runs(self.project_key, self.id, max(limit * 4, 10), True))
        good = [
            d
            for r in runs
            if (r.get("result") or {}).get("outcome") in _GOOD
            if (d := run_duration(r)) is not None
        ][:limit]
        return sum(good) / len(good) if len(good) >= limit else None

    # --- status and definition -----------------------------------------------------------------

    def get_status(self) -> DSSScenarioStatus:
        """The scenario's light status."""
        return DSSScenarioStatus(
            self, self.hook.execute(endpoints.get_light_status(self.project_key, self.id))
        )

    def get_settings(self) -> DSSScenarioSettings:
        """The scenario's settings (step-based or Python script)."""
        data = self.hook.execute(endpoints.get_settings(self.project_key, self.id))
        if data.get("type") == "step_based":
            return StepBasedScenarioSettings(self, data)
        payload = self.hook.execute(endpoints.get_payload(self.project_key, self.id))
        return PythonScriptBasedScenarioSettings(self, data, (payload or {}).get("script") or "")

    def get_definition(self, with_status: bool = True) -> dict[str, Any]:
        """Deprecated in the official client: use ``get_settings()`` / ``get_status()``."""
        warnings.warn(
            "get_definition is deprecated; use get_settings() or get_status()",
            DeprecationWarning,
            stacklevel=2,
        )
        req = endpoints.get_light_status if with_status else endpoints.get_settings
        return dict(self.hook.execute(req(self.project_key, self.id)))

    def set_definition(self, definition: dict[str, Any], with_status: bool = True) -> dict[str, Any]:
        """Deprecated in the official client: use ``get_settings()`` then ``save()``."""
        warnings.warn(
            "set_definition is deprecated; use get_settings().save()", DeprecationWarning, stacklevel=2
        )
        req = endpoints.set_light_status if with_status else endpoints.save_settings
        return dict(self.hook.execute(req(self.project_key, self.id, definition)) or {})

    def get_payload(self, extension: str = "py") -> str:
        """The script of a Python scenario."""
        payload = self.hook.execute(endpoints.get_payload(self.project_key, self.id, extension))
        return str((payload or {}).get("script") or "")

    def set_payload(self, script: str, extension: str = "py") -> dict[str, Any]:
        """Save the script of a Python scenario."""
        return dict(
            self.hook.execute(endpoints.set_payload(self.project_key, self.id, script, extension)) or {}
        )

    def delete(self) -> dict[str, Any]:
        """Delete the scenario."""
        return dict(self.hook.execute(endpoints.delete_scenario(self.project_key, self.id)) or {})

    def get_object_discussions(self) -> DSSObjectDiscussions:
        """The scenario's discussions."""
        return DSSObjectDiscussions(self.hook, self.project_key, self.id)

    def get_trigger_fire(self, trigger_id: str, trigger_run_id: str) -> DSSTriggerFire:
        """A fire of one of the scenario's triggers."""
        fire = self.hook.execute(
            endpoints.get_trigger_fire(self.project_key, self.id, trigger_id, trigger_run_id)
        )
        return DSSTriggerFire(self, fire)
