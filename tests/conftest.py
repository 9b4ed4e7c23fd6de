"""Test session set-up: a throw-away AIRFLOW_HOME, set before anything imports Airflow.

DSS itself is the embedded emulator: the ``dss_emulator`` fixture comes from our pytest plugin
(``dss_provider.emulator.pytest_plugin``), exactly as users get it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="dss-provider-airflow-home-")

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
