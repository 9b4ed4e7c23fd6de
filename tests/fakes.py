"""Airflow's objects the tests stand in for (ours are never faked): the state store.

One :class:`FakeStateStore` serves as the task state store of the durable run tests (``get``/``set``,
Airflow 3.3's ``task_state_store``) and as an asset's state store of the event trigger tests
(``aget``/``aset``); values go through JSON like the real ones.
"""

from __future__ import annotations

import json
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
