"""Operators: run a scenario and wait, abort a run, fetch a run's log or JUnit report."""
