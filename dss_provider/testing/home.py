"""The temporary ``AIRFLOW_HOME`` the pytest plugin sets before any conftest can import Airflow.

Loaded in every pytest session of every project that installs the package: standard library only,
and small (see the ``plugin`` benchmark).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

#: Set to the ``AIRFLOW_HOME`` this module made, so that a child process (a pytest-xdist worker,
#: a pytest run in a subprocess) that inherits it knows it is not the user's and makes its own.
OWNED_HOME_ENV = "DSS_PROVIDER_TEST_AIRFLOW_HOME"
#: Environment variables that would point Airflow elsewhere than the temporary home.
_DROPPED = ("AIRFLOW_CONFIG", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")


class IsolatedAirflowHome:
    """A temporary ``AIRFLOW_HOME`` set in ``os.environ``; :meth:`close` restores and removes it."""

    def __init__(self, path: Path, saved: dict[str, str | None]) -> None:
        self.path = path
        self._saved = saved

    @classmethod
    def enter(cls) -> IsolatedAirflowHome | None:
        """Make and set one, unless ``AIRFLOW_HOME`` was set by the user or Airflow is imported."""
        inherited = os.environ.get(OWNED_HOME_ENV)
        current = os.environ.get("AIRFLOW_HOME")
        if "airflow" in sys.modules or (current and current != inherited):
            return None
        names = ("AIRFLOW_HOME", OWNED_HOME_ENV, "AIRFLOW__CORE__LOAD_EXAMPLES", *_DROPPED)
        saved = {name: os.environ.get(name) for name in names}
        # Not created here: Airflow creates its home on import, so a session that never imports
        # Airflow leaves nothing behind (and pays no file-system calls).
        path = Path(tempfile.gettempdir()) / f"dss-airflow-home-{os.getpid()}-{os.urandom(6).hex()}"
        for name in _DROPPED:
            os.environ.pop(name, None)
        os.environ.update(
            {"AIRFLOW_HOME": str(path), OWNED_HOME_ENV: str(path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        )
        return cls(path, saved)

    @property
    def active(self) -> bool:
        """Whether ``AIRFLOW_HOME`` still is this folder (a conftest may have set its own)."""
        return os.environ.get("AIRFLOW_HOME") == str(self.path)

    def close(self) -> None:
        """Restore the environment variables (where still ours) and remove the folder."""
        if self.active:
            for name, value in self._saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
