"""Sensors: wait for a DSS scenario run to finish."""
