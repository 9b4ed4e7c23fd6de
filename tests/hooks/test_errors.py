"""What a user sees when something is wrong: bad inputs, DSS errors, flaky networks and proxies."""

from __future__ import annotations

import logging
import time

import pytest
import responses

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import (
    DSSAuthenticationError,
    DSSBadRequestError,
    DSSConfigurationError,
    DSSConnectionError,
    DSSNotFoundError,
    DSSPermissionError,
    DSSTransientError,
)
from dss_provider.hooks.dss import DSSHook

from .helpers import free_port, set_conn


def test_unknown_project(hook: DSSHook) -> None:
    with pytest.raises(DSSNotFoundError) as info:
        hook.get_scenario("NOPE", "BUILD_SALES").get_status()
    assert info.value.http_status == 404
    assert "Project does not exist: NOPE" in str(info.value)
    assert "project NOPE, scenario BUILD_SALES" in str(info.value)
    assert "case-sensitive" in str(info.value)


def test_unknown_scenario(hook: DSSHook) -> None:
    with pytest.raises(DSSNotFoundError, match=r"Scenario does not exist: DEMO\.NOPE") as info:
        hook.get_scenario("DEMO", "NOPE").run()
    assert info.value.error_type == "com.dataiku.dip.server.controllers.NotFoundException"


def test_bad_api_key(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bad_key = "definitely-not-the-key-9f8e7d"
    set_conn(monkeypatch, "bad_key", host=dss_emulator.url, password=bad_key)
    caplog.set_level(logging.DEBUG)
    hook = DSSHook("bad_key", retries=3)
    with pytest.raises(DSSAuthenticationError) as info:
        hook.get_scenario("DEMO", "BUILD_SALES").get_status()
    assert info.value.http_status == 401
    assert "Unknown API Key" in str(info.value)
    assert bad_key not in str(info.value) and bad_key not in repr(info.value)
    assert dss_emulator.stats()["requests"]["light"] == 1  # a 401 is not retried
    ok, message = hook.test_connection()
    assert ok is False and "Unknown API Key" in message and bad_key not in message
    assert all(bad_key not in r.getMessage() for r in caplog.records)


def test_key_without_project_access(dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "scoped", host=dss_emulator.url, password="other-project-only-key")
    hook = DSSHook("scoped", retries=0)
    assert [s.id for s in hook.list_scenarios("OTHER")] == ["REFRESH"]
    with pytest.raises(DSSPermissionError) as info:
        hook.get_scenario("DEMO", "BUILD_SALES").run()
    assert info.value.http_status == 403
    assert "Failed to read project permissions" in str(info.value)
    assert "Give the API key access to this project" in str(info.value)
    assert dss_emulator.stats()["scenarios"].get("DEMO.BUILD_SALES", {}).get("fires_accepted", 0) == 0


@pytest.mark.parametrize("bad", ["", "../x", "..", "a/b", "BUILD SALES", None])
def test_invalid_ids_fail_before_any_request(hook: DSSHook, dss_emulator: DSSEmulator, bad: object) -> None:
    before = dss_emulator.stats()["requests_total"]
    with pytest.raises(DSSConfigurationError, match="scenario_id"):
        hook.get_scenario("DEMO", bad)  # type: ignore[arg-type]
    with pytest.raises(DSSConfigurationError, match="project_key"):
        hook.list_scenarios(bad)  # type: ignore[arg-type]
    with pytest.raises(DSSConfigurationError, match="run_id"):
        hook.get_scenario("DEMO", "BUILD_SALES").get_run(bad)  # type: ignore[arg-type]
    if bad is not None:  # step_id=None means the whole run's log
        with pytest.raises(DSSConfigurationError, match="step_id"):
            hook.get_run_log("DEMO", "BUILD_SALES", "2020-01-01-00-00-00-000", bad)  # type: ignore[arg-type]
    assert dss_emulator.stats()["requests_total"] == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"when": object()}, "trigger_params is not JSON-serialisable"),
        ({"x": {1, 2}}, "trigger_params is not JSON-serialisable"),
        (["a"], "trigger_params must be a JSON object \\(a dict\\), got list"),
        ("a=1", "trigger_params must be a JSON object \\(a dict\\), got str"),
    ],
)
def test_run_params_must_be_a_json_dict(
    hook: DSSHook, dss_emulator: DSSEmulator, params: object, message: str
) -> None:
    with pytest.raises(DSSConfigurationError, match=message):
        hook.get_scenario("DEMO", "BUILD_SALES").run(params)  # type: ignore[arg-type]
    assert dss_emulator.stats()["scenarios"].get("DEMO.BUILD_SALES", {}).get("fires_accepted", 0) == 0


def test_wait_arguments_are_validated(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "BUILD_SALES")
    fire = scenario.run()
    with pytest.raises(DSSConfigurationError, match="poll_interval must be greater than 0"):
        fire.wait_for_scenario_run(poll_interval=-1)


def test_unreachable_host_after_retries(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    set_conn(monkeypatch, "closed", host=f"http://127.0.0.1:{port}", password="k3y-closed-port")
    caplog.set_level(logging.WARNING, logger="dss_provider")
    hook = DSSHook("closed", retries=2)
    with pytest.raises(DSSConnectionError) as info:
        hook.list_scenarios("DEMO")
    text = str(info.value)
    assert (
        f"Could not get an answer from DSS at http://127.0.0.1:{port}/public/api/projects/DEMO/scenarios/"
        in text
    )
    assert "Check the connection's host and port" in text
    assert len([r for r in caplog.records if "retrying in" in r.getMessage()]) == 2
    ok, message = hook.test_connection()
    assert ok is False and f"127.0.0.1:{port}" in message


def test_a_run_request_to_a_closed_port_is_retried_as_not_processed(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "closed", host=f"http://127.0.0.1:{free_port()}", password="k")
    with pytest.raises(DSSConnectionError, match="/run for project DEMO, scenario S"):
        DSSHook("closed", retries=1).get_scenario("DEMO", "S").run()


def test_5xx_burst_is_survived(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 503, "count": 2})
    assert hook.get_scenario("DEMO", "BUILD_SALES").get_status().running is False
    assert dss_emulator.stats()["requests"]["light"] == 3
    dss_emulator.faults.add({"route": "list_scenarios", "kind": "status", "status": 500, "count": 1})
    dss_emulator.faults.add({"route": "list_scenarios", "kind": "html", "status": 502, "count": 1})
    assert len(hook.list_scenarios("DEMO")) == 6


def test_5xx_exhausted_names_the_last_answer(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 500, "count": 2})
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 504})
    with pytest.raises(DSSTransientError) as info:
        hook.get_scenario("DEMO", "BUILD_SALES").get_status()
    err = info.value
    assert err.http_status == 504
    assert "failed with HTTP 504" in str(err) and "Emulated server error: HTTP 504" in str(err)
    assert "retried with backoff without success" in str(err)
    assert dss_emulator.stats()["requests"]["light"] == 3  # retries=2


def test_html_error_page_from_a_proxy(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "settings", "kind": "html", "status": 502})
    with pytest.raises(DSSTransientError) as info:
        hook.get_scenario("DEMO", "BUILD_SALES").get_settings()
    assert info.value.http_status == 502
    assert "an HTML page (likely from a proxy): <html> <head><title>502 Bad Gateway</title>" in str(
        info.value
    )


@pytest.mark.parametrize("kind", ["non_json", "truncated"])
def test_unusable_200_bodies_are_retried_then_reported(
    hook: DSSHook, dss_emulator: DSSEmulator, kind: str
) -> None:
    dss_emulator.faults.add({"route": "light", "kind": kind, "count": 1})
    assert hook.get_scenario("DEMO", "BUILD_SALES").get_status().running is False
    dss_emulator.faults.add({"route": "light", "kind": kind})
    with pytest.raises(
        DSSTransientError, match="answered HTTP 200 with a body that is not valid JSON"
    ) as info:
        hook.get_scenario("DEMO", "BUILD_SALES").get_status()
    assert info.value.http_status == 200


def test_retry_after_is_honoured(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 429, "retry_after": 1, "count": 1})
    started = time.monotonic()
    assert hook.get_scenario("DEMO", "BUILD_SALES").get_status().running is False
    assert time.monotonic() - started >= 1.0
    assert dss_emulator.stats()["requests"]["light"] == 2


def test_429_exhausted(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "list_scenarios", "kind": "status", "status": 429})
    with pytest.raises(DSSTransientError, match="DSS is rate limiting") as info:
        hook.list_scenarios("DEMO")
    assert info.value.http_status == 429


def test_dropped_connection_on_a_read_is_retried(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "list_scenarios", "kind": "drop", "count": 2})
    assert len(hook.list_scenarios("DEMO")) == 6
    dss_emulator.faults.add({"route": "list_scenarios", "kind": "drop"})
    with pytest.raises(DSSConnectionError, match="Could not get an answer from DSS"):
        hook.list_scenarios("DEMO")


def test_request_timeout(dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch, "slow", host=dss_emulator.url, password=dss_emulator.api_key, extra={"timeout": 0.2}
    )
    dss_emulator.faults.add({"route": "light", "kind": "latency", "latency": 1.0})
    started = time.monotonic()
    with pytest.raises(DSSConnectionError, match=r"[Tt]imed out"):
        DSSHook("slow", retries=1).get_scenario("DEMO", "BUILD_SALES").get_status()
    assert time.monotonic() - started < 3


@responses.activate
def test_error_bodies_the_emulator_cannot_produce(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "wire", host="https://dss.example.com", password="k")
    base = "https://dss.example.com/public/api/projects/DEMO/scenarios/S"
    responses.get(f"{base}/light", body="Service down for maintenance", status=503, content_type="text/plain")
    responses.get(f"{base}", body="", status=500)
    responses.get(f"{base}/payload", json=["not", "an", "object"], status=400)
    responses.get(
        f"{base}/get-last-runs", body='{"unterminated": ', status=200, content_type="application/json"
    )
    hook = DSSHook("wire", retries=0)
    scenario = hook.get_scenario("DEMO", "S")
    with pytest.raises(DSSTransientError, match="a non-JSON body: Service down for maintenance"):
        scenario.get_status()
    with pytest.raises(DSSTransientError, match="HTTP 500: an empty body"):
        scenario.get_settings()
    with pytest.raises(DSSBadRequestError, match=r"HTTP 400: a non-JSON body: \[\"not\"") as info:
        scenario.get_payload()
    assert info.value.http_status == 400
    with pytest.raises(DSSTransientError, match='not valid JSON: \\{"unterminated":'):
        scenario.get_last_runs()
