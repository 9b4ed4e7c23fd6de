"""Scenario status, list items, testing status and discussions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from dss_provider.handles._raw import RawObject
from dss_provider.protocol import endpoints
from dss_provider.protocol.models import ms_to_datetime

if TYPE_CHECKING:
    from dss_provider.handles.scenario_handle import DSSScenario
    from dss_provider.hooks.dss import DSSHook


class DSSScenarioStatus(RawObject):
    """The light status of a scenario (``get_raw()``: as DSS returned it)."""

    def __init__(self, scenario: DSSScenario, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.scenario = scenario

    @property
    def running(self) -> bool:
        """Whether the scenario has a run in progress."""
        return bool(self.data["running"])

    @property
    def next_run(self) -> datetime | None:
        """When a time trigger next runs the scenario (None if never)."""
        return ms_to_datetime(self.data.get("nextRun"))


class DSSScenarioListItem(RawObject):
    """An item of ``list_scenarios``. Unlike the official client, ``id`` is the id, not the name."""

    def __init__(self, hook: DSSHook, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.hook = hook

    def to_scenario(self) -> DSSScenario:
        """The scenario's handle."""
        return self.hook.get_scenario(self.data["projectKey"], self.data["id"])

    @property
    def id(self) -> str:
        """The scenario id."""
        return str(self.data["id"])

    @property
    def name(self) -> str | None:
        """The scenario's name."""
        return self.data.get("name")

    @property
    def running(self) -> bool:
        """Whether the scenario has a run in progress."""
        return bool(self.data.get("running"))

    @property
    def start_time(self) -> datetime | None:
        """When the current run started (None if none)."""
        return ms_to_datetime(self.data.get("start"))


class DSSTestingStatus:
    """A project's testing status: the last run of each test scenario."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get_raw(self) -> dict[str, Any]:
        """The testing status as DSS returned it."""
        return self.raw

    @property
    def nb_total_ran_scenarios(self) -> int:
        """How many test scenarios ran."""
        return int(self.raw.get("nbTotalRanScenarios") or 0)

    @property
    def nb_scenarios_per_outcome(self) -> dict[str, int]:
        """How many test scenarios ended with each outcome."""
        return dict(self.raw.get("nbScenariosPerOutcome") or {})


class DSSDiscussion:
    """One discussion on a scenario."""

    def __init__(self, owner: DSSObjectDiscussions, discussion_id: str, data: dict[str, Any]) -> None:
        self.owner = owner
        self.discussion_id = discussion_id
        self.data = data

    def get_metadata(self) -> dict[str, Any]:
        """The discussion without its replies."""
        return {k: v for k, v in self.data.items() if k != "replies"}

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Save the discussion's metadata (its replies stay)."""
        body = {**metadata, "replies": self.data.get("replies", [])}
        o = self.owner
        self.data = o.hook.execute(
            endpoints.update_discussion(o.project_key, o.scenario_id, self.discussion_id, body)
        )

    def get_replies(self) -> list[dict[str, Any]]:
        """The discussion's replies."""
        return list(self.data.get("replies") or [])

    def add_reply(self, text: str) -> None:
        """Add a reply to the discussion."""
        o = self.owner
        req = endpoints.add_discussion_reply(o.project_key, o.scenario_id, self.discussion_id, text)
        self.data = o.hook.execute(req)


class DSSObjectDiscussions:
    """The discussions of a scenario."""

    def __init__(self, hook: DSSHook, project_key: str, scenario_id: str) -> None:
        self.hook = hook
        self.project_key = project_key
        self.scenario_id = scenario_id

    def list_discussions(self) -> list[DSSDiscussion]:
        """The scenario's discussions."""
        items = self.hook.execute(endpoints.list_discussions(self.project_key, self.scenario_id))
        return [DSSDiscussion(self, str(d["id"]), d) for d in items]

    def create_discussion(self, topic: str, message: str) -> DSSDiscussion:
        """Open a discussion on the scenario with a first message."""
        data = self.hook.execute(
            endpoints.create_discussion(self.project_key, self.scenario_id, topic, message)
        )
        return DSSDiscussion(self, str(data["id"]), data)

    def get_discussion(self, discussion_id: str) -> DSSDiscussion:
        """One discussion of the scenario."""
        data = self.hook.execute(endpoints.get_discussion(self.project_key, self.scenario_id, discussion_id))
        return DSSDiscussion(self, discussion_id, data)
