"""pytest plugin (entry point ``dss_emulator``): a DSS emulator for your tests.

Fixtures:

* ``dss_emulator_server`` (session): one :class:`~dss_provider.emulator.server.DSSEmulator`
  started for the whole session.
* ``dss_emulator`` (function): the same server, reset before the test (seed reloaded, faults,
  counters and speed restored), with ``AIRFLOW_CONN_DATAIKU_DSS_DEFAULT`` set (monkeypatch) to
  the emulator's JSON connection, so a DAG/operator test needs one argument::

      def test_my_dag(dss_emulator):
          op = DSSRunScenarioOperator(task_id="t", project_key="DEMO", scenario_id="BUILD_SALES")
          ...
          assert dss_emulator.stats()["scenarios"]["DEMO.BUILD_SALES"]["runs_started"] == 1

Options (ini key / command line):

* ``dss_emulator_seed`` / ``--dss-emulator-seed PATH``: seed file (default: built-in demo seed).
* ``dss_emulator_speed`` / ``--dss-emulator-speed F``: speed factor (default 20).

Marker: ``@pytest.mark.dss_seed(path_or_dict)`` loads another seed for one test.

This module imports nothing heavy at import time (it is loaded before any conftest).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dss_provider.emulator.server import DSSEmulator

DEFAULT_SPEED = 20.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dss_emulator", "Dataiku DSS emulator")
    group.addoption(
        "--dss-emulator-seed",
        dest="dss_emulator_seed",
        default=None,
        help="seed file (YAML/JSON) of the dss_emulator fixture",
    )
    group.addoption(
        "--dss-emulator-speed",
        dest="dss_emulator_speed",
        default=None,
        type=float,
        help=f"speed factor of the dss_emulator fixture (default {DEFAULT_SPEED})",
    )
    parser.addini("dss_emulator_seed", "seed file (YAML/JSON) of the dss_emulator fixture", default="")
    parser.addini(
        "dss_emulator_speed", "speed factor of the dss_emulator fixture", default=str(DEFAULT_SPEED)
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dss_seed(seed): load this seed (path or dict) into the dss_emulator")


def _option(config: pytest.Config, name: str) -> Any:
    try:
        value = config.getoption(name, default=None)
    except ValueError:  # pragma: no cover - option not registered
        value = None
    if value is None:
        try:
            value = config.getini(name) or None
        except ValueError:  # pragma: no cover - ini not registered
            value = None
    return value


@pytest.fixture(scope="session")
def dss_emulator_server(pytestconfig: pytest.Config) -> Iterator[DSSEmulator]:
    """A DSS emulator started once per test session."""
    from dss_provider.emulator.server import DSSEmulator

    seed = _option(pytestconfig, "dss_emulator_seed")
    if seed:
        from pathlib import Path

        path = Path(seed)
        if not path.is_absolute():
            path = Path(str(pytestconfig.rootpath)) / path
        seed = str(path)
    speed = float(_option(pytestconfig, "dss_emulator_speed") or DEFAULT_SPEED)
    emulator = DSSEmulator(seed=seed or None, speed=speed)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def dss_emulator(
    dss_emulator_server: DSSEmulator, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> DSSEmulator:
    """The session emulator, reset for this test, with the Airflow connection env var set."""
    marker = request.node.get_closest_marker("dss_seed")
    seed = marker.args[0] if marker is not None and marker.args else None
    if isinstance(seed, str):
        from pathlib import Path

        local = Path(str(request.path)).parent / seed
        if not Path(seed).is_absolute() and local.exists():
            seed = str(local)
    dss_emulator_server.reset(seed)
    for name, value in dss_emulator_server.airflow_env().items():
        monkeypatch.setenv(name, value)
    return dss_emulator_server
