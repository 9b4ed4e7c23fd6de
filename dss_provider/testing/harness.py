"""The ``dss_airflow`` harness: a DAG bundle of your DAG folders, a migrated DB, ``run_dag``.

Made once per session by the ``dss_airflow`` fixture (see :mod:`dss_provider.testing`). Airflow is
imported only when the harness starts.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dss_provider.testing.home import IsolatedAirflowHome

BUNDLE_ENV = "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"


class DSSAirflowError(RuntimeError):
    """The ``dss_airflow`` set-up cannot give an isolated Airflow; the message says what to do."""


class DagRunResult:
    """What one DAG run left in the metadata DB, as plain values."""

    __slots__ = ("dag_id", "run_id", "state", "task_states", "xcoms")

    def __init__(
        self,
        dag_id: str,
        run_id: str,
        state: str,
        task_states: dict[str, str | None],
        xcoms: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        #: the DAG run's state: ``"success"`` or ``"failed"``
        self.state = state
        #: task id (``"task[i]"`` for a mapped instance) -> ``"success"``, ``"upstream_failed"``, ...
        self.task_states = task_states
        #: task id (``"task[i]"`` for a mapped instance) -> XCom key -> value
        self.xcoms = xcoms or {}

    @property
    def tasks(self) -> dict[str, str | None]:
        """The same as :attr:`task_states`."""
        return self.task_states

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """The XCom ``key`` of ``task_id`` (``"task[i]"`` for a mapped instance), None if absent."""
        return self.xcoms.get(task_id, {}).get(key)

    def __repr__(self) -> str:
        tasks = self.task_states
        return f"DagRunResult({self.dag_id!r}, {self.run_id!r}, state={self.state!r}, tasks={tasks})"


def _ti_name(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def read_dag_run(dag_run: Any) -> DagRunResult:
    """The states and XComs of a finished ``DagRun`` (what ``dag.test()`` returns)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        states = {_ti_name(ti.task_id, ti.map_index): (str(ti.state) if ti.state else None) for ti in tis}
        xcoms: dict[str, dict[str, Any]] = {}
        query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)
        rows: list[Any] = list(session.scalars(query).all())
        for row in rows:
            xcoms.setdefault(_ti_name(row.task_id, row.map_index), {})[row.key] = XComModel.deserialize_value(
                row
            )
    return DagRunResult(dag_run.dag_id, dag_run.run_id, str(dag_run.state), states, xcoms)


class DSSAirflow:
    """An Airflow for one test session: a DAG bundle of ``dag_folders`` and a migrated metadata DB.

    Use it through the ``dss_airflow`` fixture, which also points ``dataiku_dss_default`` at the
    test's ``dss_emulator``.
    """

    def __init__(self, dag_folders: list[Path], home: IsolatedAirflowHome | None) -> None:
        self.dag_folders = [Path(os.path.abspath(p)) for p in dag_folders]
        self._home = home
        self._saved_bundles: str | None = None
        self._dagbags: list[Any] | None = None

    @property
    def airflow_home(self) -> Path:
        """The ``AIRFLOW_HOME`` in use."""
        return Path(os.environ["AIRFLOW_HOME"])

    def start(self) -> DSSAirflow:
        """Check the home, configure the DAG bundle, migrate the DB (once per session)."""
        for folder in self.dag_folders:
            if not folder.is_dir():
                raise DSSAirflowError(
                    f"dss_airflow: DAG folder {folder} does not exist. Put your DAG files in it, or list "
                    "your DAG folders under `dss_airflow_dags` in your pytest configuration "
                    "(pytest.ini, pyproject.toml [tool.pytest.ini_options])."
                )
        self._check_home()
        self._saved_bundles = os.environ.get(BUNDLE_ENV)
        os.environ[BUNDLE_ENV] = json.dumps(self._bundles())
        from airflow.utils.db import initdb

        initdb()
        return self

    def _check_home(self) -> None:
        configured = os.environ.get("AIRFLOW_HOME")
        yours = (Path.home() / "airflow").resolve()
        if configured and Path(configured).expanduser().resolve() == yours:
            raise DSSAirflowError(
                f"dss_airflow: AIRFLOW_HOME is {yours}, your own Airflow home; dss_airflow never writes "
                "there. Unset AIRFLOW_HOME (the plugin then uses a temporary one) or point it at a "
                "temporary folder."
            )
        import airflow.configuration

        used = Path(airflow.configuration.AIRFLOW_HOME).expanduser().resolve()
        if configured is None or Path(configured).expanduser().resolve() != used:
            raise DSSAirflowError(
                f"dss_airflow: Airflow was imported with AIRFLOW_HOME={used} before the dss_emulator "
                "plugin could set a temporary one (a conftest.py or plugin imports Airflow at load time, "
                "or the plugin was loaded late). Import Airflow inside your tests or fixtures, or set "
                "AIRFLOW_HOME to a temporary folder yourself before Airflow is imported."
            )

    def _bundle_names(self) -> dict[str, Path]:
        return {f"dss-airflow-dags-{i}": folder for i, folder in enumerate(self.dag_folders)}

    def _bundles(self) -> list[dict[str, Any]]:
        ours = [
            {"name": name, "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(folder)}}
            for name, folder in self._bundle_names().items()
        ]
        if self._home is not None and self._home.active:
            return ours  # our own home: nothing else to keep
        from airflow.configuration import conf

        # a home of the user's: keep the bundles configured there, add our folders
        mine = {str(folder) for folder in self.dag_folders}
        configured: Any = conf.getjson("dag_processor", "dag_bundle_config_list") or []
        kept = [
            b
            for b in configured
            if isinstance(b, dict) and str((b.get("kwargs") or {}).get("path")) not in mine
        ]
        return kept + ours

    def close(self) -> None:
        """Restore the DAG bundle configuration."""
        if self._saved_bundles is None:
            os.environ.pop(BUNDLE_ENV, None)
        else:
            os.environ[BUNDLE_ENV] = self._saved_bundles

    def _bags(self) -> list[Any]:
        if self._dagbags is None:
            from airflow.dag_processing.dagbag import BundleDagBag

            self._dagbags = [
                BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name=name)
                for name, folder in self._bundle_names().items()
            ]
        return self._dagbags

    def get_dag(self, dag_id: str) -> Any:
        """The DAG ``dag_id`` as parsed from the DAG folders (once per session)."""
        bags = self._bags()
        for bag in bags:
            if dag_id in bag.dags:
                return bag.dags[dag_id]
        found = sorted(d for bag in bags for d in bag.dags)
        errors = "".join(
            f"\n  {path}: {(err.strip().splitlines() or [''])[-1]}"
            for bag in bags
            for path, err in bag.import_errors.items()
        )
        raise DSSAirflowError(
            f"dss_airflow: no DAG {dag_id!r} in {', '.join(map(str, self.dag_folders))} "
            f"(found: {', '.join(found) or 'none'})." + (f" Import errors:{errors}" if errors else "")
        )

    def run_dag(
        self, dag: Any, logical_date: datetime | None = None, conf: dict[str, Any] | None = None
    ) -> DagRunResult:
        """Run ``dag`` (a DAG or its id) once with ``dag.test()``; the run's states and XComs.

        ``logical_date`` None means now; ``conf`` is the run's ``dag_run.conf``. Deferred tasks run
        their trigger in-line. A failed run does not raise: assert on ``result.state``.
        """
        if isinstance(dag, str):
            dag = self.get_dag(dag)
        else:
            self._check_in_bundle(dag)
        kwargs: dict[str, Any] = {"run_conf": conf}
        if logical_date is not None:
            kwargs["logical_date"] = logical_date
        return read_dag_run(dag.test(**kwargs))

    def _check_in_bundle(self, dag: Any) -> None:
        fileloc = Path(os.path.abspath(getattr(dag, "fileloc", "") or "."))
        if not any(fileloc.is_relative_to(folder) for folder in self.dag_folders):
            raise DSSAirflowError(
                f"dss_airflow: DAG {dag.dag_id!r} comes from {fileloc}, outside the DAG folders "
                f"({', '.join(map(str, self.dag_folders))}); Airflow only runs DAGs of a DAG bundle. "
                "Move the DAG file there (a DAG defined in a test module cannot run), or add its folder "
                "to `dss_airflow_dags` in your pytest configuration."
            )
