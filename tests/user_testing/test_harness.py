"""``dss_provider.testing`` without a whole project: the temporary home's rules and the clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from dss_provider.testing import DagRunResult, DSSAirflow, DSSAirflowError

HOME_RULES = """
import json, os, sys
from dss_provider.testing.home import OWNED_HOME_ENV, IsolatedAirflowHome
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql://somewhere/real"
first = IsolatedAirflowHome.enter()
seen = {k: os.environ.get(k) for k in ("AIRFLOW_HOME", OWNED_HOME_ENV, "AIRFLOW__CORE__LOAD_EXAMPLES",
                                        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")}
again = IsolatedAirflowHome.enter()  # a child process inheriting ours (an xdist worker) makes its own
inherited_differs = again is not None and again.path != first.path
again.close()
first.close()
os.environ["AIRFLOW_HOME"] = "/somewhere/the/user/chose"
user_set = IsolatedAirflowHome.enter()
print(json.dumps({"seen": seen, "path": str(first.path), "created": first.path.exists(),
                  "inherited_differs": inherited_differs, "user_set": user_set is None,
                  "restored": os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"),
                  "owned_after": os.environ.get(OWNED_HOME_ENV)}))
"""


def test_temporary_home_rules() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DSS_PROVIDER_"))}
    out = subprocess.run(
        [sys.executable, "-c", HOME_RULES], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    got = json.loads(out.stdout)
    seen = got["seen"]
    assert seen["AIRFLOW_HOME"] == seen["DSS_PROVIDER_TEST_AIRFLOW_HOME"] == got["path"]
    assert Path(got["path"]).name.startswith("dss-airflow-home-")
    assert seen["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert seen["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] is None  # the DB is the home's SQLite file
    assert got["inherited_differs"] and got["user_set"] and not got["created"]
    assert got["restored"] == "postgresql://somewhere/real" and got["owned_after"] is None


def test_missing_dag_folder(tmp_path: Path) -> None:
    with pytest.raises(DSSAirflowError, match=r"DAG folder .*nope does not exist.*dss_airflow_dags"):
        DSSAirflow([tmp_path / "nope"], None).start()


def test_dag_from_outside_the_dag_folders(tmp_path: Path) -> None:
    harness = DSSAirflow([tmp_path], None)
    dag = SimpleNamespace(dag_id="in_a_test", fileloc="/somewhere/tests/test_x.py")
    with pytest.raises(DSSAirflowError, match=r"DAG .in_a_test. comes from /somewhere/tests/test_x.py, out"):
        harness.run_dag(dag)


def test_unknown_dag_id_lists_what_was_found_and_import_errors(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("from airflow.sdk import DAG\nraise ValueError('bad dag file')\n")
    harness = DSSAirflow([tmp_path], None)
    with pytest.raises(DSSAirflowError) as err:
        harness.get_dag("nowhere")
    message = str(err.value)
    assert "no DAG 'nowhere'" in message and "(found: none)" in message
    assert "broken.py: ValueError: bad dag file" in message


def test_result_values() -> None:
    result = DagRunResult("d", "r", "success", {"t": "success", "m[0]": "failed"}, {"t": {"return_value": 1}})
    assert result.xcom("t") == 1 and result.xcom("t", "other") is None and result.xcom("m[0]") is None
    assert "state='success'" in repr(result)
