"""Fault injection over real HTTP: every kind, counters, expiry, rate."""

from __future__ import annotations

import json
import time

import pytest
import requests

from dss_provider.emulator.faults import FaultRule, FaultRuleError, FaultSet
from dss_provider.emulator.server import DSSEmulator

LIGHT = "/public/api/projects/DEMO/scenarios/BUILD_SALES/light"
RUN = "/public/api/projects/DEMO/scenarios/BUILD_SALES/run"


def session(dss_emulator: DSSEmulator) -> requests.Session:
    s = requests.Session()
    s.auth = (dss_emulator.api_key, "")
    return s


def test_drop_really_drops(dss_emulator: DSSEmulator) -> None:
    s = session(dss_emulator)
    dss_emulator.faults.add(kind="drop", route="light", count=1)
    with pytest.raises(requests.ConnectionError):
        s.get(dss_emulator.url + LIGHT, timeout=5)
    assert s.get(dss_emulator.url + LIGHT, timeout=5).status_code == 200
    assert dss_emulator.stats()["faults"] == {"drop": 1}


def test_drop_after_accepts_the_fire(dss_emulator: DSSEmulator) -> None:
    s = session(dss_emulator)
    dss_emulator.faults.add(kind="drop_after", route="run", method="POST", count=1)
    with pytest.raises(requests.ConnectionError):
        s.post(dss_emulator.url + RUN, data="{}", timeout=5)
    stats = dss_emulator.stats()
    assert stats["scenarios"]["DEMO.BUILD_SALES"]["fires_accepted"] == 1 and stats["faults"] == {
        "drop_after": 1
    }
    time.sleep(0.2)
    runs = s.get(dss_emulator.url + "/public/api/projects/DEMO/scenarios/BUILD_SALES/get-last-runs").json()
    assert len(runs) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_status(dss_emulator: DSSEmulator, status: int) -> None:
    dss_emulator.faults.add(kind="status", route="light", status=status, retry_after=2, count=1)
    r = session(dss_emulator).get(dss_emulator.url + LIGHT)
    assert r.status_code == status and r.headers["Retry-After"] == "2"
    assert {"errorType", "message", "detailedMessage"} <= set(r.json())
    assert session(dss_emulator).get(dss_emulator.url + LIGHT).status_code == 200


def test_html_truncated_non_json(dss_emulator: DSSEmulator) -> None:
    s = session(dss_emulator)
    dss_emulator.faults.add(kind="html", route="*", count=1)
    r = s.get(dss_emulator.url + LIGHT)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html") and "<html>" in r.text
    dss_emulator.faults.add(kind="truncated", route="light", count=1)
    r = s.get(dss_emulator.url + LIGHT)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert s.get(dss_emulator.url + LIGHT).text.startswith(r.text)
    dss_emulator.faults.add(kind="non_json", route="light", count=1)
    r = s.get(dss_emulator.url + LIGHT)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert dss_emulator.stats()["faults"] == {"html": 1, "truncated": 1, "non_json": 1}


def test_latency_and_filters(dss_emulator: DSSEmulator) -> None:
    s = session(dss_emulator)
    dss_emulator.faults.add(kind="latency", route="light", latency=0.3, count=1)
    dss_emulator.faults.add(kind="status", route="light", method="POST", status=500)
    t = time.monotonic()
    assert s.get(dss_emulator.url + LIGHT).status_code == 200
    assert time.monotonic() - t >= 0.29
    assert s.get(dss_emulator.url + "/public/api/projects/DEMO/scenarios/BUILD_SALES").status_code == 200


def test_duration_expiry_and_rate() -> None:
    now = [0.0]
    fs = FaultSet(seed=42, clock=lambda: now[0])
    fs.add(kind="status", route="light", duration=10)
    assert fs.match("light", "GET")[1] is not None
    now[0] = 11
    assert fs.match("light", "GET")[1] is None and fs.rules() == []
    fs.add(kind="status", rate=0.5)
    hits = sum(fs.match("x", "GET")[1] is not None for _ in range(1000))
    assert 400 < hits < 600
    fs.clear()
    assert fs.match("x", "GET") == (0.0, None)
    assert fs.injected["status"] == 1 + hits


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "nope"},
        {"kind": "status", "status": 200},
        {"kind": "status", "rate": 2},
        {"kind": "status", "count": 0},
        {"kind": "latency"},
        {"kind": "status", "colour": "red"},
        "x",
    ],
)
def test_rule_validation(bad: object) -> None:
    with pytest.raises(FaultRuleError):
        FaultRule.from_dict(bad)


def test_faults_file_at_startup(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "faults.json"
    path.write_text(json.dumps({"faults": [{"kind": "status", "route": "light", "status": 503, "count": 1}]}))
    with DSSEmulator(faults=str(path), api_key="k") as dss:
        url = dss.url + LIGHT
        assert requests.get(url, auth=("k", "")).status_code == 503
        assert requests.get(url, auth=("k", "")).status_code == 200
        dss.add_fault(kind="status", route="light")
        dss.reset()
        assert requests.get(url, auth=("k", "")).status_code == 200
        assert dss.stats()["faults_total"] == 0


def test_latency_keeps_the_body_when_the_client_gives_up(dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add(kind="latency", route="run", latency=0.5, count=1)
    with pytest.raises(requests.Timeout):
        session(dss_emulator).post(dss_emulator.url + RUN, data=json.dumps({"attempt": 7}), timeout=0.2)
    time.sleep(0.6)
    sc = dss_emulator.state.get_scenario("DEMO", "BUILD_SALES")
    assert [f.params for f in sc.fires.values()] == [{"attempt": 7}]
