"""The DSS sensors: the first import path, kept working (classes serialized with it still load).

Each class now lives in a module named for what it holds; import from there.
"""

from __future__ import annotations

from dss_provider.sensors.base import DEFER_TIMEOUT_GRACE
from dss_provider.sensors.scenario_run import DSSScenarioRunSensor
from dss_provider.sensors.trigger_fire import DSSTriggerFireSensor

__all__ = ["DEFER_TIMEOUT_GRACE", "DSSScenarioRunSensor", "DSSTriggerFireSensor"]
