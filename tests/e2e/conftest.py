"""End-to-end set-up: a migrated metadata DB once per session, the example DAGs parsed from their bundle.

``tests/conftest.py`` has already pointed ``AIRFLOW_HOME`` at a temporary folder and the dag bundle at
``example_dags/`` before anything imported Airflow; ``dag.test()`` needs both, plus the DB created here.
"""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def run_dag(example_dagbag: Any) -> Any:
    """``run_dag(dag_id, conf=None) -> DagRunResult``: run an example DAG with ``dag.test()``."""
    from dss_provider.testing.harness import DagRunResult, read_dag_run

    def _run(dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
        dag = example_dagbag.get_dag(dag_id)
        assert dag is not None, f"example DAG {dag_id} not found: {example_dagbag.import_errors}"
        return read_dag_run(dag.test(run_conf=conf))

    return _run
