"""Old home of :class:`~dss_provider.operators.abort.DSSAbortScenarioOperator` (tasks serialized with
this path still load)."""

from dss_provider.operators.abort import DSSAbortScenarioOperator

__all__ = ["DSSAbortScenarioOperator"]
