"""The event trigger's cursor: which finished runs of each scenario it has already seen (pure, JSON-able).

Runs of one DSS scenario never overlap, so finished runs are totally ordered by ``(end, runId)``; the
cursor keeps, per scenario, the key of the newest finished run the watcher has passed (delivered or
filtered out). A run is new when its key is greater.

- Scenarios seen in the watcher's first poll are *baselined*: their history is not replayed.
- A scenario first seen later (created after the watcher started, or first polled later) delivers
  the runs that finished after the watcher started (``started``, epoch ms of the triggerer's clock).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

RunKey = tuple[int, str]
#: Version of the stored JSON form.
CURSOR_VERSION = 1


def run_key(run: dict[str, Any]) -> RunKey:
    """The order of a finished run within its scenario: ``(end ms, runId)``."""
    try:
        end = int(run.get("end") or 0)
    except (TypeError, ValueError):
        end = 0
    return end, str(run.get("runId") or "")


@dataclass
class RunCursor:
    """Per scenario, the newest finished run already passed; ``started`` anchors scenarios seen late."""

    started: int = field(default_factory=lambda: int(time.time() * 1000))
    scenarios: dict[str, RunKey] = field(default_factory=dict)
    #: True until the first poll has been applied (its scenarios are baselined, not replayed).
    fresh: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CURSOR_VERSION,
            "started": self.started,
            "scenarios": {s: {"end": k[0], "run_id": k[1]} for s, k in sorted(self.scenarios.items())},
        }

    @classmethod
    def from_json(cls, value: object) -> RunCursor | None:
        """The cursor stored by :meth:`to_json`, or None when ``value`` is not one (ignored then)."""
        if not isinstance(value, dict) or value.get("version") != CURSOR_VERSION:
            return None
        raw = value.get("scenarios")
        if not isinstance(raw, dict) or not isinstance(value.get("started"), int):
            return None
        scenarios: dict[str, RunKey] = {}
        for sid, entry in raw.items():
            if isinstance(entry, dict) and isinstance(entry.get("end"), int):
                scenarios[str(sid)] = (entry["end"], str(entry.get("run_id") or ""))
        return cls(started=value["started"], scenarios=scenarios, fresh=False)

    def merge(self, other: RunCursor) -> None:
        """Keep the newer position of each scenario (a trigger watching several assets reads several)."""
        self.started = min(self.started, other.started)
        for sid, key in other.scenarios.items():
            if key > self.scenarios.get(sid, (-1, "")):
                self.scenarios[sid] = key

    def newer(self, scenario_id: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The runs (finished, any order) newer than the cursor, oldest first; None when baselining."""
        known = self.scenarios.get(scenario_id)
        if known is None:
            if self.fresh:
                return None
            known = (self.started, "")
        return sorted((r for r in runs if run_key(r) > known), key=run_key)

    def reaches(self, scenario_id: str, runs: list[dict[str, Any]]) -> bool:
        """Whether ``runs`` (a page of the newest finished runs) goes back to the cursor's position."""
        known = self.scenarios.get(scenario_id) or (self.started, "")
        return any(run_key(r) <= known for r in runs)

    def advance(self, scenario_id: str, runs: list[dict[str, Any]]) -> bool:
        """Move past ``runs``; True when the position changed."""
        if not runs:
            if scenario_id not in self.scenarios and self.fresh:
                self.scenarios[scenario_id] = (0, "")
                return True
            return False
        newest = max(run_key(r) for r in runs)
        if newest > self.scenarios.get(scenario_id, (-1, "")):
            self.scenarios[scenario_id] = newest
            return True
        return False
