"""An isolated Airflow for testing your DAGs against the DSS emulator (the ``dss_airflow`` fixture).

The pytest plugin (``dss_provider.emulator.pytest_plugin``) uses this package in two steps:

1. ``IsolatedAirflowHome.enter()`` (:mod:`dss_provider.testing.home`), before any ``conftest.py`` or
   test module can import Airflow: when ``AIRFLOW_HOME`` is not set, it points it at a temporary
   folder (so ``~/airflow`` is never touched; Airflow creates the folder when first imported), drops
   ``AIRFLOW_CONFIG`` and ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` (the DB is then the SQLite file of
   that folder) and sets ``AIRFLOW__CORE__LOAD_EXAMPLES=False``. Each pytest process (each
   pytest-xdist worker) gets its own folder; it is removed when the session ends.
2. ``DSSAirflow`` (:mod:`dss_provider.testing.harness`), made once per session by the ``dss_airflow``
   fixture: a DAG bundle of your DAG folders, the metadata DB migrated once, and ``run_dag``.

The plugin loads :mod:`dss_provider.testing.home` in every pytest session (standard library only);
:mod:`dss_provider.testing.harness` only when ``dss_airflow`` is used. The names below are imported
lazily from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_provider._lazy import lazy_getattr

if TYPE_CHECKING:
    from dss_provider.testing.harness import DagRunResult, DSSAirflow, DSSAirflowError, read_dag_run
    from dss_provider.testing.home import OWNED_HOME_ENV, IsolatedAirflowHome

__all__ = [
    "OWNED_HOME_ENV",
    "DSSAirflow",
    "DSSAirflowError",
    "DagRunResult",
    "IsolatedAirflowHome",
    "read_dag_run",
]

__getattr__ = lazy_getattr(
    globals(),
    {
        "dss_provider.testing.harness": ("DSSAirflow", "DSSAirflowError", "DagRunResult", "read_dag_run"),
        "dss_provider.testing.home": ("IsolatedAirflowHome", "OWNED_HOME_ENV"),
    },
)
