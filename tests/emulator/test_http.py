"""HTTP behaviour of the emulator, with requests over real sockets."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from dss_provider.emulator.server import DSSEmulator

SC = "projects/DEMO/scenarios"
ERROR_KEYS = {"errorType", "message", "detailedMessage", "code", "fixability", "stackTraceStr"}


def call(
    dss_emulator: DSSEmulator,
    method: str,
    path: str,
    *,
    prefix: str = "/public/api/",
    key: str | None = None,
    **kw: Any,
) -> requests.Response:
    headers = kw.pop("headers", {})
    if "Authorization" not in headers:
        headers["Authorization"] = "Bearer " + (key or dss_emulator.api_key)
    return requests.request(method, dss_emulator.url + prefix + path, headers=headers, timeout=10, **kw)


def wait_run(dss_emulator: DSSEmulator, scenario: str, fire: dict, timeout: float = 5) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = call(
            dss_emulator,
            "GET",
            f"{SC}/{scenario}/get-run-for-trigger",
            params={"triggerId": "manual", "triggerRunId": fire["runId"]},
        ).json()
        if "result" in r.get("scenarioRun", {}):
            return r["scenarioRun"]
        time.sleep(0.02)
    raise AssertionError("run did not finish")


def started_run(dss_emulator: DSSEmulator, scenario: str) -> tuple[dict, dict]:
    fire = call(dss_emulator, "POST", f"{SC}/{scenario}/run", data="{}").json()
    for _ in range(200):
        r = call(
            dss_emulator,
            "GET",
            f"{SC}/{scenario}/get-run-for-trigger",
            params={"triggerId": "manual", "triggerRunId": fire["runId"]},
        ).json()
        if "scenarioRun" in r:
            return fire, r["scenarioRun"]
        time.sleep(0.01)
    raise AssertionError("run did not start")


def assert_error(r: requests.Response, status: int, error_type: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) >= ERROR_KEYS
    if error_type:
        assert body["errorType"] == error_type
    assert "Traceback" not in r.text
    return body


@pytest.mark.parametrize("prefix", ["/public/api/", "/dip/publicapi/"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_prefixes_and_slashes(dss_emulator: DSSEmulator, prefix: str, slash: str) -> None:
    r = call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light{slash}", prefix=prefix)
    assert r.status_code == 200 and r.json()["id"] == "BUILD_SALES"
    assert r.headers["DSS-Version"].endswith("-emulator") and r.headers["DSS-API-Version"]
    r = call(dss_emulator, "GET", f"{SC}{slash}", prefix=prefix)
    assert {s["id"] for s in r.json()} >= {"BUILD_SALES", "LONG_REFRESH"}


def test_auth_forms(dss_emulator: DSSEmulator) -> None:
    url = dss_emulator.url + f"/public/api/{SC}/BUILD_SALES/light"
    assert requests.get(url, auth=(dss_emulator.api_key, "")).status_code == 200
    assert requests.get(url, auth=("", dss_emulator.api_key)).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {dss_emulator.api_key}"}).status_code == 200
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"nope:").decode()},
    ):
        body = assert_error(
            requests.get(url, headers=headers), 401, "com.dataiku.dip.exceptions.NotAuthenticatedException"
        )
        assert body["message"] == "Unknown API Key"
        assert dss_emulator.api_key not in json.dumps(body)


def test_scoped_key(dss_emulator: DSSEmulator) -> None:
    key = "other-project-only-key"
    assert call(dss_emulator, "GET", "projects/OTHER/scenarios/REFRESH/light", key=key).status_code == 200
    body = assert_error(
        call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light", key=key),
        403,
        "com.dataiku.dip.exceptions.UnauthorizedException",
    )
    assert body["message"] == "Failed to read project permissions"
    assert [p["projectKey"] for p in call(dss_emulator, "GET", "projects/", key=key).json()] == ["OTHER"]
    assert (
        call(dss_emulator, "POST", "projects/", key=key, data=json.dumps({"projectKey": "NEW"})).status_code
        == 403
    )


def test_not_found_and_bad_requests(dss_emulator: DSSEmulator) -> None:
    assert (
        "Project does not exist: NOPE"
        in assert_error(call(dss_emulator, "GET", "projects/NOPE/scenarios/"), 404)["message"]
    )
    body = assert_error(
        call(dss_emulator, "GET", f"{SC}/NOPE/light"),
        404,
        "com.dataiku.dip.server.controllers.NotFoundException",
    )
    assert body["message"] == "Scenario does not exist: DEMO.NOPE"
    assert_error(call(dss_emulator, "GET", f"{SC}/BUILD_SALES/2020-01-01-00-00-00-000/"), 404)
    assert_error(
        call(
            dss_emulator,
            "GET",
            f"{SC}/BUILD_SALES/get-run-for-trigger",
            params={"triggerId": "manual", "triggerRunId": "2020-01-01-00-00-00-000"},
        ),
        404,
    )
    assert_error(call(dss_emulator, "GET", f"{SC}/BUILD_SALES/get-run-for-trigger"), 400)
    assert_error(call(dss_emulator, "GET", "no/such/endpoint"), 404)
    assert_error(call(dss_emulator, "PATCH", f"{SC}/BUILD_SALES/light"), 405)
    assert_error(call(dss_emulator, "POST", f"{SC}/BUILD_SALES/run", data="{not json"), 400)
    assert_error(call(dss_emulator, "POST", f"{SC}/BUILD_SALES/run", data="[1, 2]"), 400)
    assert_error(call(dss_emulator, "PUT", f"{SC}/BUILD_SALES", data='"a string"'), 400)
    assert_error(call(dss_emulator, "PUT", f"{SC}/BUILD_SALES", data=json.dumps({"type": "weird"})), 400)
    assert_error(call(dss_emulator, "GET", f"{SC}/BUILD_SALES/get-last-runs", params={"limit": "x"}), 400)
    assert_error(
        call(dss_emulator, "GET", f"{SC}/BUILD_SALES/get-last-runs", params={"onlyFinishedRuns": "maybe"}),
        400,
    )
    assert_error(
        call(dss_emulator, "GET", f"{SC}/BUILD_SALES/get-runs-by-date", params={"fromDate": "yesterday"}), 400
    )
    assert_error(
        call(dss_emulator, "POST", f"{SC}/BUILD_SALES/run", data=b"{" + b" " * (1024 * 1024 + 10) + b"}"), 413
    )
    assert call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light").status_code == 200  # server still fine


@pytest.mark.parametrize("bad", ["%2e%2e", "a%2e%2eb", "bad%20id", "a%3Cb", "x%00y", "%2e"])
def test_illegal_ids(dss_emulator: DSSEmulator, bad: str) -> None:
    assert_error(call(dss_emulator, "GET", f"{SC}/{bad}/light"), 400)


def test_path_traversal_encoded_slash(dss_emulator: DSSEmulator) -> None:
    r = call(dss_emulator, "GET", f"{SC}/..%2F..%2Fetc/light")
    assert r.status_code in (400, 404) and set(r.json()) >= ERROR_KEYS


def test_run_flow_and_run_endpoints(dss_emulator: DSSEmulator) -> None:
    r = call(dss_emulator, "POST", f"{SC}/BUILD_SALES/run", data=json.dumps({"p": 1}))  # no Content-Type
    fire = r.json()
    assert fire["trigger"] == {
        "id": "manual",
        "type": "manual",
        "name": "API run",
        "delay": 0,
        "active": False,
    }
    assert fire["cancelled"] is False and fire["params"] == {"p": 1} and fire["projectKey"] == "DEMO"
    assert dss_emulator.api_key not in r.text
    early = call(
        dss_emulator,
        "GET",
        f"{SC}/BUILD_SALES/get-run-for-trigger",
        params={"triggerId": "manual", "triggerRunId": fire["runId"]},
    ).json()
    assert early == {} or "scenarioRun" in early
    run = wait_run(dss_emulator, "BUILD_SALES", fire)
    assert run["result"]["outcome"] == "SUCCESS" and run["runId"] != fire["runId"] and run["end"] > 0
    assert run["trigger"]["runId"] == fire["runId"] and run["scenario"]["markedAsTest"] is False
    tf = call(
        dss_emulator, "GET", f"{SC}/trigger/BUILD_SALES/manual", params={"triggerRunId": fire["runId"]}
    ).json()
    assert tf["runId"] == fire["runId"] and tf["cancelled"] is False
    details = call(dss_emulator, "GET", f"{SC}/BUILD_SALES/{run['runId']}/").json()
    assert details["scenarioRun"]["runId"] == run["runId"] and len(details["stepRuns"]) == 3
    assert all("result" in s and isinstance(s["additionalReportItems"], list) for s in details["stepRuns"])
    log = call(dss_emulator, "GET", f"{SC}/BUILD_SALES/{run['runId']}/log")
    assert log.headers["content-type"].startswith("text/plain") and "SALES_PREPARED" in log.text
    step_log = call(
        dss_emulator,
        "GET",
        f"{SC}/BUILD_SALES/{run['runId']}/log",
        params={"stepId": "comp_metrics_d_SALES_BY_REGION"},
    )
    assert "Compute metrics" in step_log.text and len(step_log.text) < len(log.text)
    assert_error(
        call(dss_emulator, "GET", f"{SC}/BUILD_SALES/{run['runId']}/log", params={"stepId": "nope"}), 404
    )
    body = assert_error(
        call(dss_emulator, "GET", f"{SC}/BUILD_SALES/{run['runId']}/scenario-run-report"), 400
    )
    assert "not marked as a test" in body["message"]
    last = call(
        dss_emulator,
        "GET",
        f"{SC}/BUILD_SALES/get-last-runs",
        params={"limit": 5, "onlyFinishedRuns": "True"},
    ).json()
    assert [x["runId"] for x in last] == [run["runId"]]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    by_date = call(
        dss_emulator, "GET", f"{SC}/BUILD_SALES/get-runs-by-date", params={"fromDate": today}
    ).json()
    assert [x["runId"] for x in by_date] == [run["runId"]]
    assert (
        call(
            dss_emulator,
            "GET",
            f"{SC}/BUILD_SALES/get-runs-by-date",
            params={"fromDate": "2000-01-01", "toDate": today},
        ).json()
        == []
    )


def test_last_runs_newest_first_and_running(dss_emulator: DSSEmulator) -> None:
    first = wait_run(dss_emulator, "TESTS_SMOKE", call(dss_emulator, "POST", f"{SC}/TESTS_SMOKE/run").json())
    second = wait_run(dss_emulator, "TESTS_SMOKE", call(dss_emulator, "POST", f"{SC}/TESTS_SMOKE/run").json())
    runs = call(
        dss_emulator,
        "GET",
        f"{SC}/TESTS_SMOKE/get-last-runs",
        params={"limit": "10", "onlyFinishedRuns": "false"},
    ).json()
    assert [r["runId"] for r in runs] == [second["runId"], first["runId"]]
    assert len(call(dss_emulator, "GET", f"{SC}/TESTS_SMOKE/get-last-runs", params={"limit": 1}).json()) == 1
    dss_emulator.speed = 5
    _, run = started_run(dss_emulator, "LONG_REFRESH")
    light = call(dss_emulator, "GET", f"{SC}/LONG_REFRESH/light").json()
    assert light["running"] is True and light["start"] == run["start"]
    item = next(i for i in call(dss_emulator, "GET", f"{SC}/").json() if i["id"] == "LONG_REFRESH")
    assert item["running"] is True and item["start"] == run["start"]
    current = call(dss_emulator, "GET", f"{SC}/LONG_REFRESH/get-last-runs", params={"limit": 1}).json()[0]
    assert "result" not in current and current["end"] == 0 and current["futureId"]
    assert (
        call(
            dss_emulator, "GET", f"{SC}/LONG_REFRESH/get-last-runs", params={"onlyFinishedRuns": "TRUE"}
        ).json()
        == []
    )


def test_abort_and_cancelled_fire(dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    fire, run = started_run(dss_emulator, "LONG_REFRESH")
    second = call(dss_emulator, "POST", f"{SC}/LONG_REFRESH/run").json()
    time.sleep(0.2)
    tf = call(
        dss_emulator, "GET", f"{SC}/trigger/LONG_REFRESH/manual", params={"triggerRunId": second["runId"]}
    ).json()
    assert tf["cancelled"] is True
    assert (
        call(
            dss_emulator,
            "GET",
            f"{SC}/LONG_REFRESH/get-run-for-trigger",
            params={"triggerId": "manual", "triggerRunId": second["runId"]},
        ).json()
        == {}
    )
    r = call(dss_emulator, "POST", f"{SC}/LONG_REFRESH/abort")  # no body
    assert r.status_code == 200 and r.json()["aborted"] is True
    done = wait_run(dss_emulator, "LONG_REFRESH", fire)
    assert done["result"]["outcome"] == "ABORTED" and done["futureId"] is None
    steps = call(dss_emulator, "GET", f"{SC}/LONG_REFRESH/{run['runId']}/").json()["stepRuns"]
    assert steps[-1]["result"]["outcome"] == "ABORTED"
    assert call(dss_emulator, "POST", f"{SC}/LONG_REFRESH/abort").json()["aborted"] is False
    c = dss_emulator.stats()["scenarios"]["DEMO.LONG_REFRESH"]
    assert c["fires_cancelled"] == 1 and c["aborts_requested"] == 2 and c["runs_aborted"] == 1


def test_futures(dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    _, a = started_run(dss_emulator, "LONG_REFRESH")
    _, b = started_run(dss_emulator, "NIGHTLY_EXPORT")
    futures = call(
        dss_emulator,
        "GET",
        "futures/",
        params={"withScenarios": "True", "withNotScenarios": "False", "allUsers": "False"},
    ).json()
    by_run = {f["payload"]["runId"]: f for f in futures}
    assert set(by_run) == {a["runId"], b["runId"]}
    assert (
        by_run[a["runId"]]["payload"]["type"] == "scenario" and by_run[a["runId"]]["jobId"] == a["futureId"]
    )
    assert call(dss_emulator, "GET", "futures/", params={"withScenarios": "false"}).json() == []
    assert call(dss_emulator, "GET", f"futures/{a['futureId']}").json()["jobId"] == a["futureId"]
    r = call(dss_emulator, "DELETE", f"futures/{a['futureId']}")
    assert r.status_code == 200 and r.json()
    light_a = call(dss_emulator, "GET", f"{SC}/LONG_REFRESH/light").json()
    light_b = call(dss_emulator, "GET", f"{SC}/NIGHTLY_EXPORT/light").json()
    assert light_a["running"] is False and light_b["running"] is True
    assert_error(call(dss_emulator, "DELETE", f"futures/{a['futureId']}"), 404)
    assert call(dss_emulator, "GET", "futures/", key="other-project-only-key").json() == []


def test_settings_light_payload_delete(dss_emulator: DSSEmulator) -> None:
    settings = call(dss_emulator, "GET", f"{SC}/BUILD_SALES").json()
    assert settings["type"] == "step_based" and len(settings["params"]["steps"]) == 3
    assert {"active", "triggers", "reporters", "params", "versionTag", "creationTag"} <= set(settings)
    settings["triggers"].append(
        {"type": "temporal", "active": True, "params": {"frequency": "Hourly", "minute": 5}}
    )
    r = call(dss_emulator, "PUT", f"{SC}/BUILD_SALES", data=json.dumps(settings))
    assert r.status_code == 200 and isinstance(r.json(), dict)
    saved = call(dss_emulator, "GET", f"{SC}/BUILD_SALES").json()
    assert saved["triggers"][-1]["id"] and saved["versionTag"]["versionNumber"] == 2
    assert call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light").json()["nextRun"] > 0
    r = call(
        dss_emulator,
        "PUT",
        f"{SC}/BUILD_SALES/light",
        data=json.dumps({"active": False, "name": "ignored", "tags": ["x"]}),
    )
    assert r.status_code == 200 and isinstance(r.json(), dict)
    light = call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light").json()
    assert light["active"] is False and light["tags"] == ["x"] and light["name"] == "Build sales"
    assert light["nextRun"] == 0
    payload = call(
        dss_emulator, "GET", f"{SC}/PY_SCORING/payload", data=json.dumps({"extension": "py"})
    ).json()
    assert "build_dataset" in payload["script"]
    assert call(dss_emulator, "PUT", f"{SC}/PY_SCORING/payload", data=json.dumps({"script": "x = 1"})).json()
    assert call(dss_emulator, "GET", f"{SC}/PY_SCORING/payload").json()["script"] == "x = 1"
    r = call(dss_emulator, "DELETE", f"{SC}/TESTS_SMOKE")
    assert r.status_code == 200 and isinstance(r.json(), dict)
    assert_error(call(dss_emulator, "GET", f"{SC}/TESTS_SMOKE/light"), 404)


def test_create_project_and_scenario(dss_emulator: DSSEmulator) -> None:
    body = {
        "projectKey": "NEWP",
        "name": "New",
        "owner": "me",
        "settings": None,
        "description": None,
        "permissions": [],
        "tags": [],
    }
    assert call(dss_emulator, "POST", "projects/", data=json.dumps(body)).status_code == 200
    assert_error(call(dss_emulator, "POST", "projects/", data=json.dumps(body)), 400)
    assert "NEWP" in [p["projectKey"] for p in call(dss_emulator, "GET", "projects/").json()]
    created = call(
        dss_emulator,
        "POST",
        "projects/NEWP/scenarios/",
        data=json.dumps({"name": "My scenario", "type": "step_based", "params": {}}),
    ).json()
    assert created["id"] == "MY_SCENARIO"
    again = call(
        dss_emulator,
        "POST",
        "projects/NEWP/scenarios/",
        data=json.dumps({"name": "My scenario", "type": "step_based"}),
    )
    assert again.json()["id"] == "MY_SCENARIO_1"
    fire = call(dss_emulator, "POST", "projects/NEWP/scenarios/MY_SCENARIO/run").json()
    time.sleep(0.1)
    found = call(
        dss_emulator,
        "GET",
        "projects/NEWP/scenarios/MY_SCENARIO/get-run-for-trigger",
        params={"triggerId": "manual", "triggerRunId": fire["runId"]},
    ).json()
    assert found["scenarioRun"]["result"]["outcome"] == "SUCCESS"  # no steps: immediate success
    assert_error(
        call(dss_emulator, "POST", "projects/NEWP/scenarios/", data=json.dumps({"type": "step_based"})), 400
    )


def test_discussions(dss_emulator: DSSEmulator) -> None:
    base = "projects/DEMO/discussions/SCENARIO/BUILD_SALES/"
    d = call(
        dss_emulator, "POST", base, data=json.dumps({"topic": "Why slow?", "reply": "It is slow"})
    ).json()
    assert d["id"] and d["replies"][0]["text"] == "It is slow"
    assert [x["id"] for x in call(dss_emulator, "GET", base).json()] == [d["id"]]
    d2 = call(dss_emulator, "POST", f"{base}{d['id']}/replies/", data=json.dumps({"reply": "Fixed"})).json()
    assert [r["text"] for r in d2["replies"]] == ["It is slow", "Fixed"]
    meta = {k: v for k, v in d2.items() if k != "replies"}
    meta["topic"] = "Was slow"
    d3 = call(
        dss_emulator, "PUT", f"{base}{d['id']}", data=json.dumps({**meta, "replies": d2["replies"]})
    ).json()
    assert d3["topic"] == "Was slow" and len(d3["replies"]) == 2
    assert {"text", "author", "time", "editedOn"} <= set(
        call(dss_emulator, "GET", f"{base}{d['id']}").json()["replies"][0]
    )
    assert_error(call(dss_emulator, "GET", f"{base}nope"), 404)


def test_reports_and_testing_status(dss_emulator: DSSEmulator) -> None:
    status = call(dss_emulator, "GET", f"{SC}/testing-status").json()
    assert status["nbTotalRanScenarios"] == 0
    smoke = wait_run(dss_emulator, "TESTS_SMOKE", call(dss_emulator, "POST", f"{SC}/TESTS_SMOKE/run").json())
    quality = wait_run(
        dss_emulator, "QUALITY_CHECKS", call(dss_emulator, "POST", f"{SC}/QUALITY_CHECKS/run").json()
    )
    assert quality["result"]["outcome"] == "WARNING"
    status = call(dss_emulator, "GET", f"{SC}/testing-status", params={"bundleId": "b1"}).json()
    assert status["nbTotalRanScenarios"] == 2
    assert status["nbScenariosPerOutcome"]["SUCCESS"] == 1 and status["nbScenariosPerOutcome"]["WARNING"] == 1
    r = call(dss_emulator, "GET", f"{SC}/TESTS_SMOKE/{smoke['runId']}/scenario-run-report")
    assert r.headers["content-type"].startswith("application/xml") and b"<testsuite" in r.content
    assert r.content.count(b"<testcase") == 2
    r = call(
        dss_emulator,
        "GET",
        f"{SC}/TESTS_SMOKE/{smoke['runId']}/step-run-report",
        params={"stepId": "smoke_api"},
    )
    assert r.content.count(b"<testcase") == 1
    r = call(dss_emulator, "GET", f"{SC}/last-test-scenario-runs-report")
    assert r.content.count(b"<testsuite ") == 2


def test_get_with_body_and_boolean_case(dss_emulator: DSSEmulator) -> None:
    r = call(
        dss_emulator,
        "GET",
        f"{SC}/BUILD_SALES/get-last-runs",
        data=b'{"ignored": true}',
        params={"onlyFinishedRuns": "False", "limit": "3"},
    )
    assert r.status_code == 200 and r.json() == []


def test_admin_routes(dss_emulator: DSSEmulator) -> None:
    url = dss_emulator.url + "/__emulator__/"
    assert requests.get(url + "health").json()["status"] == "ok"
    assert requests.get(url + "stats").status_code == 401
    assert (
        requests.get(url + "stats", headers={"X-DSS-Emulator-Admin-Key": dss_emulator.api_key}).status_code
        == 403
    )
    assert (
        requests.get(url + "stats", headers={"Authorization": f"Bearer {dss_emulator.api_key}"}).status_code
        == 401
    )
    h = {"X-DSS-Emulator-Admin-Key": dss_emulator.admin_key}
    call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light")
    stats = requests.get(url + "stats", headers=h).json()
    assert stats["requests"]["light"] == 1
    rules = requests.post(
        url + "faults", headers=h, data=json.dumps({"kind": "status", "route": "light", "status": 503})
    ).json()
    assert rules[0]["id"]
    assert_error(call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light"), 503)
    assert len(requests.get(url + "faults", headers=h).json()) == 1
    assert requests.delete(url + "faults/" + rules[0]["id"], headers=h).status_code == 200
    assert call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light").status_code == 200
    assert requests.post(url + "faults", headers=h, data=json.dumps({"kind": "boom"})).status_code == 400
    requests.post(url + "faults", headers=h, data=json.dumps([{"kind": "status", "route": "light"}]))
    assert requests.delete(url + "faults", headers=h).json()
    assert call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light").status_code == 200
    assert requests.post(url + "speed", headers=h, data=json.dumps({"speed": 7})).json() == {"speed": 7.0}
    call(dss_emulator, "DELETE", f"{SC}/BUILD_SALES")
    assert requests.post(url + "reset", headers=h).status_code == 200
    assert call(dss_emulator, "GET", f"{SC}/BUILD_SALES/light").status_code == 200
    assert dss_emulator.speed == 100 and dss_emulator.stats()["requests"] == {"light": 1}
    seed = {"projects": [{"key": "X", "scenarios": [{"id": "ONLY", "type": "step_based"}]}]}
    assert requests.post(url + "reset", headers=h, data=json.dumps({"seed": seed})).status_code == 200
    assert [s["id"] for s in call(dss_emulator, "GET", "projects/X/scenarios/").json()] == ["ONLY"]


def test_unexpected_error_is_dss_shaped_500(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(dss_emulator.state, "fire", boom)
    body = assert_error(call(dss_emulator, "POST", f"{SC}/BUILD_SALES/run"), 500)
    assert "kaboom" not in json.dumps(body)
    monkeypatch.undo()
    assert call(dss_emulator, "POST", f"{SC}/BUILD_SALES/run").status_code == 200
