"""Operator extra links: the DSS page of a task's scenario run."""
