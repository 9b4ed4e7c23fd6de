"""pytest plugin (entry point ``dss_emulator``): a DSS emulator and an isolated Airflow for your tests.

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

* ``dss_airflow`` (function; session set-up in ``dss_airflow_session``): an isolated Airflow
  (:class:`dss_provider.testing.DSSAirflow`) whose DAG bundle holds your DAG folders, with a
  migrated SQLite DB and ``dataiku_dss_default`` pointing at the test's ``dss_emulator``::

      def test_my_dag(dss_airflow):
          result = dss_airflow.run_dag("my_dag")
          assert result.state == "success"

Options (ini key / command line):

* ``dss_emulator_seed`` / ``--dss-emulator-seed PATH``: seed file or bundled seed name (default: demo).
* ``dss_emulator_speed`` / ``--dss-emulator-speed F``: speed factor (default 20).
* ``dss_airflow_dags`` (ini, one folder a line): the DAG folders of ``dss_airflow`` (default: the
  first ``dags/`` folder from pytest's rootdir up to the project's top, else ``./dags``).

Marker: ``@pytest.mark.dss_seed(path_name_or_dict)`` loads another seed for one test.

Before any ``conftest.py`` is loaded, the plugin points an unset ``AIRFLOW_HOME`` at a temporary
folder of this pytest process (removed at the end), so that nothing writes to ``~/airflow``.
Switch the plugin off with ``-p no:dss_emulator``.

This module imports nothing heavy at import time (it is loaded in every pytest session).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from dss_provider.emulator.server import DSSEmulator
    from dss_provider.testing.harness import DSSAirflow
    from dss_provider.testing.home import IsolatedAirflowHome

DEFAULT_SPEED = 20.0
_HOME: pytest.StashKey[IsolatedAirflowHome | None] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--dss-emulator-*`` options and ini keys."""
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
    parser.addini(
        "dss_airflow_dags",
        "DAG folders of the dss_airflow fixture (default: dags/ in the rootdir)",
        type="paths",
        default=[],
    )


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Point an unset AIRFLOW_HOME at a temporary folder before any conftest can import Airflow."""
    from dss_provider.testing.home import IsolatedAirflowHome

    early_config.stash[_HOME] = IsolatedAirflowHome.enter()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``dss_seed`` marker (and isolate AIRFLOW_HOME if not done at start-up)."""
    config.addinivalue_line(
        "markers", "dss_seed(seed): load this seed (path, bundled seed name or dict) into the dss_emulator"
    )
    if _HOME not in config.stash:  # registered after start-up (not as an installed or -p plugin)
        from dss_provider.testing.home import IsolatedAirflowHome

        config.stash[_HOME] = IsolatedAirflowHome.enter()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the temporary AIRFLOW_HOME."""
    home = config.stash.get(_HOME, None)
    if home is not None:
        home.close()
        config.stash[_HOME] = None


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
    if seed:  # a file relative to the rootdir, else as given (a path, or a bundled seed's name)
        from pathlib import Path

        in_root = Path(str(pytestconfig.rootpath)) / seed
        if not Path(seed).is_absolute() and in_root.is_file():
            seed = str(in_root)
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
        if not Path(seed).is_absolute() and local.is_file():
            seed = str(local)
    dss_emulator_server.reset(seed)
    for name, value in dss_emulator_server.airflow_env().items():
        monkeypatch.setenv(name, value)
    return dss_emulator_server


#: A folder holding one of these is a project's top: the search for ``dags/`` stops there.
_PROJECT_MARKERS = (".git", "pyproject.toml", "pytest.ini", "setup.cfg", "setup.py", "tox.ini")


def _dag_folders(config: pytest.Config) -> list[Path]:
    """``dss_airflow_dags``, else the first ``dags/`` from the rootdir up to the project's top, or cwd."""
    from pathlib import Path

    listed: list[Path] = list(config.getini("dss_airflow_dags"))
    if listed:
        return listed
    root = Path(str(config.rootpath))
    for folder in (root, *root.parents):
        if (folder / "dags").is_dir():
            return [folder / "dags"]
        if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
            break
    cwd = Path.cwd() / "dags"
    return [cwd if cwd.is_dir() else root / "dags"]


@pytest.fixture(scope="session")
def dss_airflow_session(pytestconfig: pytest.Config) -> Iterator[DSSAirflow]:
    """The session's isolated Airflow: DAG bundle of your DAG folders, migrated SQLite DB."""
    from dss_provider.testing.harness import DSSAirflow

    harness = DSSAirflow(_dag_folders(pytestconfig), pytestconfig.stash.get(_HOME, None)).start()
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def dss_airflow(dss_airflow_session: DSSAirflow, dss_emulator: DSSEmulator) -> DSSAirflow:
    """The session's Airflow with ``dataiku_dss_default`` pointing at this test's ``dss_emulator``.

    ``dss_airflow.run_dag(dag_or_id, logical_date=None, conf=None)`` returns a
    :class:`~dss_provider.testing.DagRunResult` (``.state``, ``.task_states``, ``.xcom(task_id)``).
    """
    return dss_airflow_session
