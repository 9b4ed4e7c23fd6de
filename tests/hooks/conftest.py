"""Fixtures of the hook tests: one emulator per module, reset to the demo seed for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dss_provider.emulator.server import DSSEmulator

SPEED = 100.0


@pytest.fixture(scope="module")
def dss_emulator_server() -> Iterator[DSSEmulator]:
    """One emulator per test module, run fast; the plugin's ``dss_emulator`` resets it for every test."""
    with DSSEmulator(speed=SPEED) as dss:
        yield dss


@pytest.fixture
def dss_emulator(dss_emulator: DSSEmulator) -> Iterator[DSSEmulator]:
    """A fresh demo DSS; AIRFLOW_CONN_DATAIKU_DSS_DEFAULT points at it; faults cleared afterwards."""
    yield dss_emulator
    dss_emulator.faults.clear()
