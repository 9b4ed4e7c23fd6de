"""TLS: self-signed certificates, CA bundles, verify_ssl=false, and http/https mix-ups."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSConnectionError
from dss_provider.hooks.dss import DSSHook
from dss_provider.hooks.dss_async import DSSAsyncHook

from .helpers import TLSServer, set_conn

KEY = "tls-test-key-5c4b3a"


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[TLSServer]:
    with TLSServer(tmp_path) as server:
        yield server


def test_self_signed_certificate_is_refused_by_default(
    tls: TLSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, "tls", host=f"https://127.0.0.1:{tls.port}", password=KEY)
    hook = DSSHook("tls", retries=1)
    with pytest.raises(DSSConnectionError) as info:
        hook.list_scenarios("DEMO")
    text = str(info.value)
    assert "TLS error" in text and "CERTIFICATE_VERIFY_FAILED" in text
    assert "ca_bundle" in text and "verify_ssl=false" in text
    assert KEY not in text
    ok, message = hook.test_connection()
    assert ok is False and "TLS error" in message


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_ssl_false_and_ca_bundle_both_connect(tls: TLSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment may set REQUESTS_CA_BUNDLE: it must not override the connection's options.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    set_conn(
        monkeypatch, "tls", host=f"https://127.0.0.1:{tls.port}", password=KEY, extra={"verify_ssl": "false"}
    )
    ok, message = DSSHook("tls", retries=0).test_connection()
    assert ok is True and "the key can see 1 project(s)" in message
    set_conn(
        monkeypatch,
        "tls",
        host=f"https://127.0.0.1:{tls.port}",
        password=KEY,
        extra={"ca_bundle": tls.cert_path},
    )
    ok, message = DSSHook("tls", retries=0).test_connection()
    assert ok is True, message


def test_http_to_an_https_port(tls: TLSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "tls", host=f"http://127.0.0.1:{tls.port}", password=KEY)
    hook = DSSHook("tls", retries=1)
    with pytest.raises(
        DSSConnectionError, match=f"Could not get an answer from DSS at http://127.0.0.1:{tls.port}"
    ):
        hook.list_scenarios("DEMO")
    ok, message = hook.test_connection()
    assert ok is False and "http vs https" in message


def test_https_to_an_http_port(dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "tls", host=f"https://127.0.0.1:{dss_emulator.port}", password=dss_emulator.api_key)
    hook = DSSHook("tls", retries=1)
    with pytest.raises(DSSConnectionError) as info:
        hook.list_scenarios("DEMO")
    assert "TLS error" in str(info.value) and "http vs https" in str(info.value)
    assert dss_emulator.api_key not in str(info.value)
    ok, message = hook.test_connection()
    assert ok is False and "TLS error" in message


async def test_async_hook_tls(tls: TLSServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from dss_provider.protocol import endpoints

    set_conn(monkeypatch, "tls", host=f"https://127.0.0.1:{tls.port}", password=KEY)
    async with DSSAsyncHook("tls", retries=0) as hook:
        with pytest.raises(DSSConnectionError, match="Check the certificate"):
            await hook.execute(endpoints.list_projects())
    set_conn(
        monkeypatch,
        "tls2",
        host=f"https://127.0.0.1:{tls.port}",
        password=KEY,
        extra={"ca_bundle": tls.cert_path},
    )
    async with DSSAsyncHook("tls2", retries=0) as hook:
        assert await hook.execute(endpoints.list_projects()) == [{"projectKey": "DEMO"}]


def test_tls_failures_are_not_retried(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A TLS error cannot clear by itself: the hook fails at once instead of backing off 5 times."""
    set_conn(monkeypatch, "tls", host=f"https://127.0.0.1:{dss_emulator.port}", password=dss_emulator.api_key)
    hook = DSSHook("tls", retries=5)
    with pytest.raises(DSSConnectionError, match="TLS error"):
        hook.list_scenarios("DEMO")
    assert not [r for r in caplog.records if "retrying in" in r.getMessage()]
