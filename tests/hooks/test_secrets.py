"""The API key never shows in exception messages, log records or reprs."""

from __future__ import annotations

import logging

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSError
from dss_provider.hooks.dss import DSSHook
from dss_provider.hooks.dss_async import DSSAsyncHook
from dss_provider.protocol import endpoints

from .helpers import set_conn


def _no_key(key: str, *texts: str) -> None:
    for text in texts:
        assert key not in text


async def test_key_never_leaks(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = dss_emulator.api_key
    set_conn(monkeypatch, "leak", host=dss_emulator.url, password=key, extra={"auth_method": "bearer"})
    hook = DSSHook("leak", retries=1)
    texts: list[str] = [repr(hook.config), str(hook.config)]
    assert hook.test_connection()[0] is True
    scenario = hook.get_scenario("DEMO", "NIGHTLY_EXPORT")
    texts.append(repr(scenario))
    dss_emulator.faults.add({"route": "light", "kind": "status", "status": 503, "count": 1})
    dss_emulator.faults.add({"route": "run", "kind": "drop_after", "count": 1})
    errors: list[BaseException] = []
    scenario.get_status()
    try:
        scenario.run_and_wait(timeout=20, poll_interval=0.02)
    except DSSError as err:
        errors.append(err)
    for call in (
        lambda: hook.get_scenario("DEMO", "NOPE").get_status(),
        lambda: hook.get_scenario("NOPE", "X").run(),
        lambda: hook.get_scenario("DEMO", "BUILD_SALES").get_run("2020-01-01-00-00-00-000"),
        lambda: hook.get_scenario("DEMO", "BUILD_SALES").run({"bad": object()}),
    ):
        try:
            call()
        except DSSError as err:
            errors.append(err)
    set_conn(monkeypatch, "leak_tls", host=f"https://127.0.0.1:{dss_emulator.port}", password=key)
    tls_hook = DSSHook("leak_tls", retries=0)
    texts.append(tls_hook.test_connection()[1])
    async with DSSAsyncHook("leak", retries=0) as ahook:
        texts.append(repr(ahook.config))
        try:
            await ahook.execute(endpoints.get_light_status("DEMO", "NOPE"))
        except DSSError as err:
            errors.append(err)
    assert len(errors) == 6
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert any("was lost" in r.getMessage() for r in caplog.records)  # the retry warnings were logged
    _no_key(key, *texts)
