"""Which run a task follows: the trigger fire it made, the run it started, whether the task attached.

A task attaches to a run it did not start with ``if_already_running="attach"``.

One frozen value used by the run operator, its task state store entry, the run trigger's kwargs and
the trigger events. Its dict form (:meth:`RunRef.as_dict`) keeps the keys these always had
(``trigger_id``, ``trigger_run_id``, ``run_id``, ``attached``), so entries and triggers stored by an
older version still load.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class RunRef:
    """A fire (``trigger_id`` + ``trigger_run_id``), the run it started (``run_id``), ``attached``."""

    trigger_id: str | None = None
    trigger_run_id: str | None = None
    run_id: str | None = None
    attached: bool = False

    @classmethod
    def from_fire(cls, fire: dict[str, Any]) -> RunRef:
        """From DSS's answer to a run request (a trigger fire)."""
        return cls((fire.get("trigger") or {}).get("id"), fire.get("runId"))

    @classmethod
    def from_run(cls, run: dict[str, Any], *, attached: bool = False) -> RunRef:
        """From a DSS scenario run (its ``trigger`` is the fire that started it)."""
        fire = run.get("trigger") or {}
        return cls((fire.get("trigger") or {}).get("id"), fire.get("runId"), run.get("runId"), attached)

    @classmethod
    def parse(cls, value: object) -> RunRef | None:
        """From its dict form (a task state store entry, event fields); None when it names nothing."""
        if isinstance(value, RunRef):
            return value
        if not isinstance(value, dict):
            return None
        ref = cls(
            _str_or_none(value.get("trigger_id")),
            _str_or_none(value.get("trigger_run_id")),
            _str_or_none(value.get("run_id")),
            bool(value.get("attached")),
        )
        return ref if ref.run_id or ref.trigger_id else None

    def with_run(self, run_id: object) -> RunRef:
        """The same fire, now known to have started ``run_id``."""
        return replace(self, run_id=str(run_id))

    @property
    def fire_ids(self) -> dict[str, Any]:
        """``trigger_id`` and ``trigger_run_id``, as keyword arguments."""
        return {"trigger_id": self.trigger_id, "trigger_run_id": self.trigger_run_id}

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (task state store entry): the four keys, always."""
        return {
            "trigger_id": self.trigger_id,
            "trigger_run_id": self.trigger_run_id,
            "run_id": self.run_id,
            "attached": self.attached,
        }


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
