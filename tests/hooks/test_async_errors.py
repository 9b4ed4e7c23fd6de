"""DSSAsyncHook's transport errors, classified by aiohttp exception type: what is retried, what is not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSConnectionError
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints

from .helpers import free_port, set_conn


def _retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]


async def test_a_refused_run_request_is_sent_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Connection refused: DSS never saw the request, so even a run request is retried."""
    port = free_port()
    set_conn(monkeypatch, "refused", host=f"http://127.0.0.1:{port}", password="k-refused-1")
    caplog.set_level(logging.WARNING)
    async with DSSAsyncHook("refused", retries=2) as hook:
        with pytest.raises(DSSConnectionError, match="Could not get an answer from DSS") as info:
            await hook.execute(endpoints.run_scenario("DEMO", "BUILD_SALES"))
    assert "k-refused-1" not in str(info.value)
    assert len(_retry_lines(caplog)) == 2


async def test_a_read_timeout_resends_a_poll_but_never_a_run_request(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read timeout: DSS may have processed the request. A GET is sent again; a run request is not."""
    set_conn(
        monkeypatch,
        "slow",
        host=dss_emulator.url,
        password=dss_emulator.api_key,
        extra={"timeout": "0.3"},
    )
    dss_emulator.faults.add({"route": "light", "kind": "latency", "latency": 1.5, "count": 1})
    dss_emulator.faults.add({"route": "run", "kind": "latency", "latency": 1.5, "count": 1})
    async with DSSAsyncHook("slow", retries=3) as hook:
        light = await hook.execute(endpoints.get_light_status("DEMO", "BUILD_SALES"))
        assert light["id"] == "BUILD_SALES"
        with pytest.raises(DSSConnectionError, match="Could not get an answer from DSS"):
            await hook.execute(endpoints.run_scenario("DEMO", "BUILD_SALES"))
    requests = dss_emulator.stats()["requests"]
    assert requests["light"] == 2
    assert requests["run"] == 1


async def test_netrc_never_replaces_the_api_key(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A ~/.netrc entry for the DSS host is not used: the connection's key authenticates."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone-else password not-the-key\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    async with DSSAsyncHook(retries=0) as hook:
        assert len(await hook.execute(endpoints.list_projects())) == 2
