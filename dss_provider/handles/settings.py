"""Scenario settings and the trigger builders of the official client."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from dss_provider.handles._raw import RawObject
from dss_provider.protocol import endpoints

if TYPE_CHECKING:
    from dss_provider.handles.scenario_handle import DSSScenario

_RUN_ON = {
    "ON_THE_DAY",
    "LAST_DAY_OF_THE_MONTH",
    "FIRST_WEEK",
    "SECOND_WEEK",
    "THIRD_WEEK",
    "FOURTH_WEEK",
    "LAST_WEEK",
}
_DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


def _starting_from(year: int | None, month: int | None, day: int | None, *, monthly: bool = False) -> str:
    """Midnight of the given date in the local timezone, as DSS expects (``...T00:00:00.000+0100``)."""
    today = datetime.now().astimezone()
    try:
        if monthly:
            start = today.replace(year=year or today.year, month=month or 1, day=day or 1)
        else:
            start = today.replace(year=year or today.year, month=month or today.month, day=day or today.day)
    except ValueError:
        start = today
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return start.strftime("%Y-%m-%dT%H:%M:%S.000%z")


class DSSScenarioSettings(RawObject):
    """Settings of a scenario; ``get_raw()`` is a live reference, ``save()`` sends it."""

    def __init__(self, scenario: DSSScenario, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.scenario = scenario

    @property
    def active(self) -> bool:
        """Whether the scenario's triggers are active."""
        return bool(self.data.get("active"))

    @active.setter
    def active(self, value: bool) -> None:
        self.data["active"] = value

    @property
    def run_as(self) -> str | None:
        """The user the scenario runs as (None: its last author)."""
        return self.data.get("runAsUser")

    @run_as.setter
    def run_as(self, value: str | None) -> None:
        self.data["runAsUser"] = value

    @property
    def effective_run_as(self) -> str | None:
        """The user the scenario actually runs as."""
        if "runAsUser" in self.data:
            run_as: str | None = self.data["runAsUser"]
            return run_as
        for tag in ("versionTag", "creationTag"):
            login = ((self.data.get(tag) or {}).get("lastModifiedBy") or {}).get("login")
            if login:
                return str(login)
        return None

    @property
    def raw_triggers(self) -> list[dict[str, Any]]:
        """The scenario's triggers (a live list: edit, then ``save``)."""
        triggers: list[dict[str, Any]] = self.data.setdefault("triggers", [])
        return triggers

    @property
    def raw_reporters(self) -> list[dict[str, Any]]:
        """The scenario's reporters (a live list: edit, then ``save``)."""
        reporters: list[dict[str, Any]] = self.data.setdefault("reporters", [])
        return reporters

    def _add_temporal(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = {"active": True, "type": "temporal", "params": params}
        self.raw_triggers.append(trigger)
        return trigger

    def add_periodic_trigger(self, every_minutes: int = 5) -> dict[str, Any]:
        """Add a trigger running the scenario every ``every_minutes`` minutes."""
        return self._add_temporal({"frequency": "Minutely", "repeatFrequency": every_minutes})

    def add_hourly_trigger(
        self,
        minute_of_hour: int = 0,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        starting_hour: int = 0,
        repeat_every: int = 1,
        timezone: str = "SERVER",
    ) -> dict[str, Any]:
        """Add a trigger running the scenario every hour(s) at a given minute."""
        return self._add_temporal(
            {
                "frequency": "Hourly",
                "hour": starting_hour,
                "minute": minute_of_hour,
                "startingFrom": _starting_from(year, month, day),
                "repeatFrequency": repeat_every,
                "timezone": timezone,
            }
        )

    def add_daily_trigger(
        self,
        hour: int = 2,
        minute: int = 0,
        days: list[str] | None = None,
        year: int | None = None,
        month: int | None = None,
        day: int | None = None,
        repeat_every: int = 1,
        timezone: str = "SERVER",
    ) -> dict[str, Any]:
        """Add a trigger running the scenario every day(s) at a given time."""
        params: dict[str, Any] = {
            "frequency": "Daily" if days is None else "Weekly",
            "hour": hour,
            "minute": minute,
            "startingFrom": _starting_from(year, month, day),
            "repeatFrequency": repeat_every,
            "timezone": timezone,
        }
        if days is not None:
            unknown = [d for d in days if d not in _DAYS]
            if unknown:
                raise ValueError(f"Unknown day names {unknown}; use Monday ... Sunday.")
            params["daysOfWeek"] = list(days)
        return self._add_temporal(params)

    def add_monthly_trigger(
        self,
        day: int = 1,
        hour: int = 2,
        minute: int = 0,
        year: int | None = None,
        month: int | None = None,
        run_on: str = "ON_THE_DAY",
        repeat_every: int = 1,
        timezone: str = "SERVER",
    ) -> dict[str, Any]:
        """Add a trigger running the scenario every month(s) on a given day."""
        if run_on not in _RUN_ON:
            raise ValueError(f"run_on must be one of {sorted(_RUN_ON)}, got {run_on!r}.")
        return self._add_temporal(
            {
                "frequency": "Monthly",
                "startingFrom": _starting_from(year, month, day, monthly=True),
                "hour": hour,
                "minute": minute,
                "monthlyRunOn": run_on,
                "repeatFrequency": repeat_every,
                "timezone": timezone,
            }
        )

    def save(self) -> None:
        """Save the settings to DSS."""
        s = self.scenario
        s.hook.execute(endpoints.save_settings(s.project_key, s.id, self.data))


class StepBasedScenarioSettings(DSSScenarioSettings):
    """The settings of a step-based scenario."""

    @property
    def raw_steps(self) -> list[dict[str, Any]]:
        """The scenario's steps (a live list: edit, then ``save``)."""
        steps: list[dict[str, Any]] = self.data.setdefault("params", {}).setdefault("steps", [])
        return steps


class PythonScriptBasedScenarioSettings(DSSScenarioSettings):
    """The settings of a Python script scenario, with its script."""

    def __init__(self, scenario: DSSScenario, data: dict[str, Any], script: str) -> None:
        super().__init__(scenario, data)
        self.script = script

    @property
    def code(self) -> str:
        """The scenario's script."""
        return self.script

    @code.setter
    def code(self, value: str) -> None:
        self.script = value

    def save(self) -> None:
        """Save the settings and the script to DSS."""
        super().save()
        s = self.scenario
        s.hook.execute(endpoints.set_payload(s.project_key, s.id, self.script, extension=None))
