"""Server lifecycle, the dss-emulator CLI, and the pytest plugin."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import requests

from dss_provider.emulator.server import DSSEmulator

ROOT = Path(__file__).resolve().parents[2]
LIGHT = "/public/api/projects/DEMO/scenarios/BUILD_SALES/light"


def test_start_fast_stop_clean_restart_keeps_state() -> None:
    threads_before = set(threading.enumerate())
    t = time.monotonic()
    dss = DSSEmulator(speed=100).start()
    assert time.monotonic() - t < 0.5
    port = dss.port
    assert dss.url == f"http://127.0.0.1:{port}" and port > 0
    s = requests.Session()
    s.auth = (dss.api_key, "")
    fire = s.post(dss.url + "/public/api/projects/DEMO/scenarios/BUILD_SALES/run").json()
    dss.stop()
    assert not dss.running
    assert set(threading.enumerate()) <= threads_before
    with pytest.raises(requests.ConnectionError):
        requests.get(dss.url + LIGHT, auth=(dss.api_key, ""), timeout=2)
    time.sleep(0.2)
    dss.start()
    try:
        assert dss.port == port
        found = s.get(
            dss.url + "/public/api/projects/DEMO/scenarios/BUILD_SALES/get-run-for-trigger",
            params={"triggerId": "manual", "triggerRunId": fire["runId"]},
        ).json()
        assert found["scenarioRun"]["result"]["outcome"] == "SUCCESS"
    finally:
        dss.stop()
    dss.stop()  # idempotent


def test_connection_helpers() -> None:
    dss = DSSEmulator(api_key="a/b c", port=12345)
    conn = json.loads(dss.connection_json())
    assert conn == {
        "conn_type": "dataiku_dss",
        "host": "http://127.0.0.1:12345",
        "password": "a/b c",
        "extra": {},
    }
    assert dss.airflow_env() == {"AIRFLOW_CONN_DATAIKU_DSS_DEFAULT": dss.connection_json()}
    assert list(dss.airflow_env("my_dss")) == ["AIRFLOW_CONN_MY_DSS"]
    assert dss.connection_uri().startswith("dataiku-dss://:a%2Fb%20c@127.0.0.1:12345")
    assert "DSSEmulator(" in repr(dss)


def _start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dss_provider.emulator", "--port", "0", "--speed", "50", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_generated_key(sig: int) -> None:
    proc, line = _start_cli()
    try:
        m = re.fullmatch(r"DSS emulator ready at (http://127\.0\.0\.1:\d+) \(api key: (\S+)\)\n", line)
        assert m, line
        assert requests.get(m.group(1) + LIGHT, auth=(m.group(2), "")).json()["id"] == "BUILD_SALES"
    finally:
        proc.send_signal(sig)
        assert proc.wait(10) == 0


def test_cli_given_key_not_echoed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"projects": [{"key": "P", "scenarios": [{"id": "S"}]}]}))
    proc, line = _start_cli("--api-key", "secret-key-123", "--seed", str(seed), "--admin-key", "adm")
    try:
        assert "secret-key-123" not in line and "as given by --api-key" in line
        url = re.search(r"(http://\S+)", line).group(1)  # type: ignore[union-attr]
        assert (
            requests.get(
                url + "/dip/publicapi/projects/P/scenarios/S/light", auth=("secret-key-123", "")
            ).status_code
            == 200
        )
        assert requests.get(url + "/__emulator__/stats", headers={"X-DSS-Emulator-Admin-Key": "adm"}).ok
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        assert "secret-key-123" not in (proc.stderr.read() if proc.stderr else "")


def test_pytest_plugin(tmp_path: Path) -> None:
    (tmp_path / "seed.yaml").write_text("projects: [{key: ONE, scenarios: [{id: SOLO}]}]\n")
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent("""
        import json, os
        import pytest, requests

        def test_default(dss_emulator):
            conn = json.loads(os.environ["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"])
            assert conn["host"] == dss_emulator.url and conn["password"] == dss_emulator.api_key
            assert dss_emulator.speed == 33
            url = conn["host"] + "/public/api/projects/DEMO/scenarios/"
            r = requests.get(url, auth=(conn["password"], ""))
            assert "BUILD_SALES" in [s["id"] for s in r.json()]
            dss_emulator.faults.add(kind="status")

        @pytest.mark.dss_seed("seed.yaml")
        def test_marker(dss_emulator):
            assert list(dss_emulator.state.catalog.projects) == ["ONE"]
            assert dss_emulator.faults.rules() == []

        @pytest.mark.dss_seed({"projects": [{"key": "TWO"}]})
        def test_marker_dict(dss_emulator):
            assert list(dss_emulator.state.catalog.projects) == ["TWO"]

        def test_back_to_default(dss_emulator, dss_emulator_server):
            assert dss_emulator is dss_emulator_server
            assert "DEMO" in dss_emulator.state.catalog.projects
    """)
    )
    import importlib.metadata

    installed = any(ep.name == "dss_emulator" for ep in importlib.metadata.entry_points(group="pytest11"))
    plugin_args = [] if installed else ["-p", "dss_provider.emulator.pytest_plugin"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *plugin_args,
            "--dss-emulator-speed",
            "33",
            str(tmp_path / "test_user.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_fixture_in_process(dss_emulator: DSSEmulator) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"])
    assert conn["host"] == dss_emulator.url
    assert requests.get(dss_emulator.url + LIGHT, auth=(dss_emulator.api_key, "")).status_code == 200


def test_plugin_module_is_light() -> None:
    code = (
        "import sys; import dss_provider.emulator.pytest_plugin; "
        "heavy = ('airflow', 'uvicorn', 'starlette', 'dss_provider.emulator.server'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
