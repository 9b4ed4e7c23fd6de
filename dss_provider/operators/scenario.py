"""The DSS operators: the first import path, kept working (classes serialized with it still load).

Each class now lives in a module named for what it holds; import from there.
"""

from __future__ import annotations

from dss_provider.operators.abort import DSSAbortScenarioOperator
from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)
from dss_provider.operators.run_scenario import DSSRunScenarioOperator

__all__ = [
    "DSSAbortScenarioOperator",
    "DSSGetScenarioRunLogOperator",
    "DSSGetScenarioRunReportOperator",
    "DSSRunScenarioOperator",
]
