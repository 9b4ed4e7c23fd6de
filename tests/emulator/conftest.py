"""Fixtures of the emulator's own tests.

The ``dss_emulator`` pytest plugin is auto-registered by its pytest11 entry point once the
package is pip-installed; before that (running from the source tree), register it here, guarded
so that it is never registered twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dss_provider.emulator import pytest_plugin
from dss_provider.emulator.engine import ManualClock
from dss_provider.emulator.server import DSSEmulator


def pytest_configure(config: pytest.Config) -> None:
    pm = config.pluginmanager
    if not pm.has_plugin("dss_emulator") and not pm.is_registered(pytest_plugin):
        pm.register(pytest_plugin, "dss_emulator")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def dss_emulator_server() -> Iterator[DSSEmulator]:
    """A fast emulator shared by a test module (speed 100: BUILD_SALES takes 60 ms), with known keys.

    The plugin's ``dss_emulator`` fixture resets it before every test.
    """
    with DSSEmulator(speed=100, api_key="test-key", admin_key="test-admin-key", fault_seed=1) as dss:
        yield dss
