"""Triggers: wait for DSS in the triggerer (fires, runs, run events of a project)."""
