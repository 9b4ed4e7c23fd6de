"""The base of the handles that wrap one JSON object DSS returned."""

from __future__ import annotations

from typing import Any


class RawObject:
    """One JSON object as DSS returned it: ``data``, also given by ``get_raw()``."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def get_raw(self) -> dict[str, Any]:
        """The object as DSS returned it."""
        return self.data
