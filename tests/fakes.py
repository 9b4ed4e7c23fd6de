"""Airflow's objects the tests stand in for (ours are never faked): the state store, a task instance
and a task's context.

One :class:`FakeStateStore` serves as the task state store of the durable run tests (``get``/``set``,
Airflow 3.3's ``task_state_store``) and as an asset's state store of the event trigger tests
(``aget``/``aset``); values go through JSON like the real ones. :func:`make_context` is what an
operator's ``execute`` gets, with a :class:`FakeTI` that records the XComs.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any


class FakeStateStore:
    """A dict-backed state store: ``data`` holds each key's JSON text, ``values`` the decoded values."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    @property
    def values(self) -> dict[str, Any]:
        """The stored values, decoded (a copy); assign a dict to replace them all."""
        return {key: json.loads(text) for key, text in self.data.items()}

    @values.setter
    def values(self, values: dict[str, Any]) -> None:
        self.data = {key: json.dumps(value) for key, value in values.items()}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = json.dumps(value)

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)

    async def aset(self, key: str, value: Any, **_: Any) -> None:
        self.set(key, value)


class FakeTI:
    """Enough of a task instance for ``execute``: records every XCom push (an XCom must be JSON)."""

    def __init__(self, task_id: str = "task") -> None:
        self.task_id = task_id
        self.dag_id = "tests"
        self.run_id = "manual__tests"
        self.try_number = 1
        self.map_index = -1
        self.stats_tags: dict[str, str] = {}
        #: key -> the last value pushed
        self.xcoms: dict[str, Any] = {}
        #: every push, in order (the secrets scan reads them all)
        self.pushes: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any, **_: Any) -> None:
        json.dumps(value)  # an XCom must be JSON-serialisable
        self.xcoms[key] = value
        self.pushes.append((key, value))

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


def make_context(store: FakeStateStore | None = None, *, task_id: str = "task") -> dict[str, Any]:
    """A task's context: a :class:`FakeTI`, the run's ids, and ``store`` as its task state store."""
    ti = FakeTI(task_id)
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "ds": "2024-01-01",
        "params": {},
        "dag_run": SimpleNamespace(run_id=ti.run_id, conf={}),
    }
    if store is not None:
        context["task_state_store"] = store
    return context
