"""The seed-compatible handles (names follow the official ``dataikuapi`` client).

Get them from a hook: ``DSSHook().get_scenario("PROJ", "SCENARIO")``.
"""

from __future__ import annotations

from dss_provider.handles.misc import (
    DSSDiscussion,
    DSSObjectDiscussions,
    DSSScenarioListItem,
    DSSScenarioStatus,
    DSSTestingStatus,
)
from dss_provider.handles.runs import (
    DSSScenarioRun,
    DSSScenarioRunDetails,
    DSSScenarioRunWaiter,
    DSSStepRunDetails,
    DSSTriggerFire,
)
from dss_provider.handles.scenario_handle import DSSScenario
from dss_provider.handles.settings import (
    DSSScenarioSettings,
    PythonScriptBasedScenarioSettings,
    StepBasedScenarioSettings,
)

__all__ = [
    "DSSDiscussion",
    "DSSObjectDiscussions",
    "DSSScenario",
    "DSSScenarioListItem",
    "DSSScenarioRun",
    "DSSScenarioRunDetails",
    "DSSScenarioRunWaiter",
    "DSSScenarioSettings",
    "DSSScenarioStatus",
    "DSSStepRunDetails",
    "DSSTestingStatus",
    "DSSTriggerFire",
    "PythonScriptBasedScenarioSettings",
    "StepBasedScenarioSettings",
]
