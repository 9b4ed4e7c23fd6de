"""Test session set-up: a throw-away AIRFLOW_HOME, set before anything imports Airflow; the fixtures
every suite shares (fast request retries, a worker-side ``hook``).

DSS itself is the embedded emulator: the ``dss_emulator`` fixture comes from our pytest plugin
(``dss_provider.emulator.pytest_plugin``), exactly as users get it.

Nothing stays in the temporary folder (``/tmp``) after the session: the AIRFLOW_HOME made here is
removed when each pytest process ends, and pytest's own base temporary folder (``tmp_path``, also of
pytest-xdist workers) is made in a folder of this session, removed at its end (unless
``--basetemp`` is given).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dss_provider.emulator.server import DSSEmulator
    from dss_provider.hooks.dss import DSSHook

#: The session-wide secrets scan (sums up every test's scan, across pytest-xdist workers too).
pytest_plugins = ["tests.secret_scan"]

REPO = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="dss-provider-airflow-home-")
_BASETEMP = pytest.StashKey[str]()

os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(REPO / "example_dags")},
        }
    ]
)
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
# Tests never talk to anything but loopback.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before pytest's tmp_path factory reads the option; xdist workers get a folder inside it.
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="dss-provider-pytest-")
        config.stash[_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)
    basetemp = config.stash.get(_BASETEMP, None)
    if basetemp:
        shutil.rmtree(basetemp, ignore_errors=True)


@pytest.fixture
def backoff_seconds() -> tuple[float, float]:
    """``(BACKOFF_BASE, BACKOFF_MAX)`` of the hooks' request retries in tests; a suite may override it."""
    return 0.01, 0.05


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch, backoff_seconds: tuple[float, float]) -> None:
    """Request retries wait milliseconds, not seconds (Retry-After is still honoured), and the run a
    lost fire answer may have started is looked for 1 s, not 10."""
    from dss_provider.hooks import dss
    from dss_provider.protocol import retry

    base, most = backoff_seconds
    monkeypatch.setattr(retry, "BACKOFF_BASE", base)
    monkeypatch.setattr(retry, "BACKOFF_MAX", most)
    monkeypatch.setattr(dss, "FIRE_RECONCILE_SECONDS", 1.0)


@pytest.fixture
def hook_retries() -> int | None:
    """The ``retries`` of the ``hook`` fixture (None: the connection's); a suite may override it."""
    return 2


@pytest.fixture
def hook(dss_emulator: DSSEmulator, hook_retries: int | None) -> Iterator[DSSHook]:
    """A worker-side hook on the test's emulator, to fire and inspect runs as an operator would."""
    from dss_provider.hooks.dss import DSSHook

    h = DSSHook(retries=hook_retries)
    yield h
    h.close()
