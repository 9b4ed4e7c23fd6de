"""The DSS wait triggers: the first import path, kept working (classes serialized with it still load).

Each class now lives in a module named for what it holds; import from there.
"""

from __future__ import annotations

from dss_provider.protocol.retry import is_transient
from dss_provider.triggers.events import exception_from_event
from dss_provider.triggers.scenario_run import DSSScenarioRunTrigger
from dss_provider.triggers.trigger_fire import DSSTriggerFireTrigger

__all__ = ["DSSScenarioRunTrigger", "DSSTriggerFireTrigger", "exception_from_event", "is_transient"]
