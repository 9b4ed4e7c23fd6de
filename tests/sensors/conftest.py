"""Fixtures of the sensor tests (shared with the trigger tests, see tests/dss_support.py)."""

from __future__ import annotations

from tests.dss_support import dss_emulator

__all__ = ["dss_emulator"]
