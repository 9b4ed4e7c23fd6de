"""End-to-end set-up: a migrated metadata DB once per session, the example DAGs parsed from their bundle.

``tests/conftest.py`` has already pointed ``AIRFLOW_HOME`` at a temporary folder and the dag bundle at
``example_dags/`` before anything imported Airflow; ``dag.test()`` needs both, plus the DB created here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "example_dags"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Create the metadata DB (sqlite in the session's AIRFLOW_HOME) once."""
    from airflow.utils import db

    db.initdb()
    yield


@pytest.fixture(scope="session")
def example_dagbag(airflow_db: None) -> Any:
    from tests.airflow_compat import dag_bag

    return dag_bag(EXAMPLES, bundle_name="dags-folder")


@dataclass
class DagRunResult:
    """What a ``dag.test()`` run left in the metadata DB, in plain values."""

    dag_id: str
    run_id: str
    state: str
    #: task id (``task[i]`` for mapped instances) -> state
    tasks: dict[str, str | None]
    #: task id (``task[i]`` for mapped instances) -> XCom key -> value
    xcoms: dict[str, dict[str, Any]] = field(default_factory=dict)

    def xcom(self, task: str, key: str = "return_value") -> Any:
        return self.xcoms.get(task, {}).get(key)


def _name(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


@pytest.fixture
def run_dag(example_dagbag: Any) -> Any:
    """``run_dag(dag_id, conf=None) -> DagRunResult``: run an example DAG with ``dag.test()``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    def _run(dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
        dag = example_dagbag.get_dag(dag_id)
        assert dag is not None, f"example DAG {dag_id} not found: {example_dagbag.import_errors}"
        dr = dag.test(run_conf=conf)
        with create_session() as session:
            tis = dr.get_task_instances(session=session)
            tasks = {_name(ti.task_id, ti.map_index): (str(ti.state) if ti.state else None) for ti in tis}
            xcoms: dict[str, dict[str, Any]] = {}
            query = select(XComModel).where(XComModel.run_id == dr.run_id, XComModel.dag_id == dag_id)
            rows = session.scalars(query).all()
            for row in rows:
                xcoms.setdefault(_name(row.task_id, row.map_index), {})[row.key] = (
                    XComModel.deserialize_value(row)
                )
            return DagRunResult(dag_id, dr.run_id, str(dr.state), tasks, xcoms)

    return _run
