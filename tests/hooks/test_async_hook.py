"""DSSAsyncHook (triggerer side): same requests, same errors, same retries, shared client."""

from __future__ import annotations

import asyncio

import pytest
from airflow.sdk import BaseHook

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import (
    DSSAuthenticationError,
    DSSConfigurationError,
    DSSConnectionError,
    DSSNotFoundError,
    DSSPermissionError,
    DSSTransientError,
)
from dss_provider.hooks import dss_async
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints, procedures

from .helpers import free_port, set_conn


async def test_execute_against_dss(dss_emulator: DSSEmulator) -> None:
    async with DSSAsyncHook(retries=1) as hook:
        assert hook.config.base_url == dss_emulator.url
        assert hook.config.api_key == dss_emulator.api_key
        fire = await hook.execute(endpoints.run_scenario("DEMO", "BUILD_SALES", {"p": 1}))
        assert fire["params"] == {"p": 1} and fire["cancelled"] is False
        state = None
        for _ in range(200):
            state = await hook.run_procedure(
                procedures.resolve_fire("DEMO", "BUILD_SALES", fire["trigger"]["id"], fire["runId"])
            )
            if state.status == "run":
                break
            await asyncio.sleep(0.01)
        assert state is not None and state.status == "run" and state.run is not None
        run_id = state.run["runId"]
        details = await hook.execute(endpoints.get_run_details("DEMO", "BUILD_SALES", run_id))
        assert details["scenarioRun"]["runId"] == run_id
        log = await hook.execute(endpoints.get_run_log("DEMO", "BUILD_SALES", run_id))
        assert isinstance(log, str) and run_id in log


async def test_connection_is_fetched_with_aget_connection(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = BaseHook.aget_connection.__func__  # type: ignore[attr-defined]

    async def spy(cls: type, conn_id: str):  # type: ignore[no-untyped-def]
        seen.append(conn_id)
        return await original(cls, conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(spy))
    set_conn(
        monkeypatch,
        "async_conn",
        host=dss_emulator.url + "/public/api/",
        password=dss_emulator.api_key,
        extra={"retries": "1", "auth_method": "bearer"},
    )
    async with DSSAsyncHook("async_conn") as hook:
        assert hook.config.base_url == dss_emulator.url and hook.config.retries == 1
        assert hook.config.auth_method == "bearer"
        assert len(await hook.execute(endpoints.list_projects())) == 2
    assert seen == ["async_conn"]


async def test_shared_client_reuse_and_release(dss_emulator: DSSEmulator) -> None:
    first, second = DSSAsyncHook(), DSSAsyncHook()
    shared_a, shared_b = await asyncio.gather(first.acquire(), second.acquire())
    assert shared_a is shared_b
    assert shared_a.users == 2
    client = shared_a.client
    other = DSSAsyncHook("another_conn_id")
    with pytest.raises(DSSConfigurationError, match="another_conn_id"):
        await other.acquire()
    await first.release()
    assert not client.is_closed and shared_a.users == 1
    assert await second.execute(endpoints.list_projects())
    await second.release()
    assert client.is_closed
    assert not any(conn_id == "dataiku_dss_default" for conn_id, _ in dss_async.open_clients())
    await second.release()  # releasing twice is harmless
    assert shared_a.users == 0
    # a new user after the last one left gets a new client
    async with DSSAsyncHook() as third:
        assert third._shared is not None and third._shared.client is not client
        assert await third.execute(endpoints.list_projects())


async def test_config_before_acquire_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="acquire"):
        _ = DSSAsyncHook().config
    with pytest.raises(DSSConfigurationError, match="dss_conn_id must be a non-empty string"):
        DSSAsyncHook("")


async def test_same_error_mapping_as_sync(dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    async with DSSAsyncHook(retries=0) as hook:
        with pytest.raises(DSSNotFoundError, match=r"Scenario does not exist: DEMO\.NOPE"):
            await hook.execute(endpoints.get_light_status("DEMO", "NOPE"))
        with pytest.raises(DSSNotFoundError, match="Scenario run does not exist"):
            await hook.execute(endpoints.get_run_details("DEMO", "BUILD_SALES", "2020-01-01-00-00-00-000"))
    set_conn(monkeypatch, "bad_key", host=dss_emulator.url, password="bad-async-key-123")
    async with DSSAsyncHook("bad_key", retries=2) as hook:
        with pytest.raises(DSSAuthenticationError, match="Unknown API Key") as info:
            await hook.execute(endpoints.list_projects())
        assert "bad-async-key-123" not in str(info.value)
    set_conn(monkeypatch, "scoped", host=dss_emulator.url, password="other-project-only-key")
    async with DSSAsyncHook("scoped", retries=0) as hook:
        with pytest.raises(DSSPermissionError, match="Failed to read project permissions"):
            await hook.execute(endpoints.list_scenarios("DEMO"))
    assert dss_emulator.stats()["requests"]["list_projects"] == 1  # the 401 was not retried


async def test_retries_on_faults(dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 503, "count": 2})
    dss_emulator.faults.add({"route": "settings", "kind": "drop", "count": 1})
    dss_emulator.faults.add({"route": "payload", "kind": "truncated", "count": 1})
    async with DSSAsyncHook(retries=2) as hook:
        light = await hook.execute(endpoints.get_light_status("DEMO", "BUILD_SALES"))
        assert light["running"] is False
        settings = await hook.execute(endpoints.get_settings("DEMO", "BUILD_SALES"))
        assert settings["id"] == "BUILD_SALES"
        payload = await hook.execute(endpoints.get_payload("DEMO", "PY_SCORING"))
        assert "CUSTOMERS_SCORED" in payload["script"]
    requests = dss_emulator.stats()["requests"]
    assert (requests["light"], requests["settings"], requests["payload"]) == (3, 2, 2)


async def test_exhausted_retries_and_run_requests(dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "html", "status": 502})
    dss_emulator.faults.add({"route": "run", "kind": "status", "status": 500})
    async with DSSAsyncHook(retries=1) as hook:
        with pytest.raises(DSSTransientError, match="an HTML page \\(likely from a proxy\\)") as info:
            await hook.execute(endpoints.get_light_status("DEMO", "BUILD_SALES"))
        assert info.value.http_status == 502
        with pytest.raises(DSSTransientError, match="HTTP 500"):
            await hook.execute(endpoints.run_scenario("DEMO", "BUILD_SALES"))
    requests = dss_emulator.stats()["requests"]
    assert requests["light"] == 2
    assert requests["run"] == 1  # an ambiguous run request is never blindly repeated


async def test_retry_after_is_honoured(dss_emulator: DSSEmulator) -> None:
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 429, "retry_after": 1, "count": 1})
    async with DSSAsyncHook(retries=1) as hook:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await hook.execute(endpoints.get_light_status("DEMO", "BUILD_SALES"))
        assert loop.time() - started >= 1.0


async def test_unreachable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    set_conn(monkeypatch, "closed", host=f"http://127.0.0.1:{port}", password="k-closed")
    async with DSSAsyncHook("closed", retries=1) as hook:
        with pytest.raises(
            DSSConnectionError, match=f"Could not get an answer from DSS at http://127.0.0.1:{port}"
        ):
            await hook.execute(endpoints.list_projects())


async def test_environment_proxy_is_applied_and_no_proxy_honoured(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP(S)_PROXY set, requests go through httpx, which applies the proxy and NO_PROXY."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with DSSAsyncHook(retries=0) as hook:
        status = await hook.execute(endpoints.get_light_status("DEMO", "BUILD_SALES"))
        assert status["id"] == "BUILD_SALES"
        with pytest.raises(DSSNotFoundError, match="scenario NOPE"):
            await hook.execute(endpoints.get_light_status("DEMO", "NOPE"))
    monkeypatch.setenv("NO_PROXY", "")
    async with DSSAsyncHook(retries=0) as hook:
        with pytest.raises(DSSConnectionError, match="Could not get an answer from DSS"):
            await hook.execute(endpoints.get_light_status("DEMO", "BUILD_SALES"))


async def test_concurrent_first_requests_of_one_hook_join_once(dss_emulator: DSSEmulator) -> None:
    """Several requests of one hook at once, before it has joined the shared client: it joins once, so
    its release closes the client (it used to count the hook once per concurrent request)."""
    hook = DSSAsyncHook()
    await asyncio.gather(*(hook.execute(endpoints.list_projects()) for _ in range(5)))
    (entry,) = [e for conn_id, e in dss_async.open_clients() if conn_id == "dataiku_dss_default"]
    assert entry.users == 1
    await hook.release()
    assert entry.client.is_closed
    assert not any(conn_id == "dataiku_dss_default" for conn_id, _ in dss_async.open_clients())
