"""The scenario handle: the first import path, kept working (classes serialized with it still load).

Each class now lives in a module named for what it holds; import from there.
"""

from __future__ import annotations

from dss_provider.handles.scenario_handle import DSSScenario

__all__ = ["DSSScenario"]
