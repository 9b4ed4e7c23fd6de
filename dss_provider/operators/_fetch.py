"""Old home of the log and report operators (tasks serialized with this path still load)."""

from dss_provider.operators.run_log_report import (
    DSSGetScenarioRunLogOperator,
    DSSGetScenarioRunReportOperator,
)

__all__ = ["DSSGetScenarioRunLogOperator", "DSSGetScenarioRunReportOperator"]
