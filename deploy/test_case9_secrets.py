"""Case 9: the DSS API key appears in no file under AIRFLOW_HOME (task logs, process logs, config) and
nowhere in a ``pg_dump`` of the metadata DB, raw, URL-encoded or base64 (alone or as Basic auth)."""

from __future__ import annotations

from typing import Any

import psutil
import pytest

from deploy.harness import Deployment, secret_forms

pytestmark = pytest.mark.timeout(200)


def _hits(blob: bytes, forms: dict[str, bytes]) -> list[str]:
    return [name for name, form in forms.items() if form in blob]


@pytest.mark.case("9", "API key in no file of AIRFLOW_HOME and not in the metadata DB")
def test_api_key_is_nowhere(deployment: Deployment, figures: dict[str, Any]) -> None:
    # something deferred and something failed ran in this deployment, whatever ran before this test
    assert deployment.run_dag("deploy_run_deferred", {"scenario": "WAIT_12S"}).state == "success"
    failing = deployment.run_dag("dss_failure_log_and_report", {"output_dir": str(deployment.root / "r")})
    assert failing.state == "failed" and failing.tasks["nightly_export"] == "failed"
    key = deployment.dss.api_key
    forms = secret_forms(key)
    # the scan can see the key: the processes do hold it, in their environment
    triggerer = psutil.Process(deployment.processes["triggerer"].pid or 0)
    assert "raw" in _hits(triggerer.environ()["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"].encode(), forms)

    found, files, size = {}, 0, 0
    for path in deployment.files():
        blob = path.read_bytes()
        files, size = files + 1, size + len(blob)
        if hits := _hits(blob, forms):
            found[str(path.relative_to(deployment.home))] = hits
    dump = deployment.pg_dump()
    figures.update(files_scanned=files, mib_scanned=size / 2**20, pg_dump_mib=len(dump) / 2**20)
    assert files > 10 and b"deploy_run_deferred" in dump
    assert found == {}, found
    assert _hits(dump, forms) == [], "the API key is in the metadata DB"
