"""Reading a dataiku_dss connection (pure), and the forms users write it in (env var, URI, JSON)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import responses

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSAuthenticationError, DSSConfigurationError
from dss_provider.hooks.connection import DSSConnectionConfig, config_from_connection
from dss_provider.hooks.dss import DSSHook

from .helpers import set_conn

KEY = "s3cr3t-api-key-value"


def cfg(host: str | None = "dss.example.com", **kw: Any) -> DSSConnectionConfig:
    fields: dict[str, Any] = {
        "conn_id": "c",
        "conn_type": "dataiku_dss",
        "host": host,
        "port": None,
        "password": KEY,
        "extra": None,
    }
    fields.update(kw)
    return config_from_connection(**fields)


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("dss.example.com", None, "https://dss.example.com"),
        ("dss.example.com", 11200, "https://dss.example.com:11200"),
        ("http://dss.example.com:11200", None, "http://dss.example.com:11200"),
        ("http://dss.example.com:11200", 9999, "http://dss.example.com:11200"),
        ("https://dss.example.com/", None, "https://dss.example.com"),
        ("https://dss.example.com///", None, "https://dss.example.com"),
        ("https://dss.example.com/public/api", None, "https://dss.example.com"),
        ("https://dss.example.com/public/api/", None, "https://dss.example.com"),
        ("https://dss.example.com:8443/dip/publicapi/", None, "https://dss.example.com:8443"),
        ("https://gw.example.com/dss/public/api", None, "https://gw.example.com/dss"),
        ("  http://127.0.0.1:8080  ", None, "http://127.0.0.1:8080"),
        ("https://user:pw@dss.example.com", None, "https://dss.example.com"),
        ("https://dss.example.com:", None, "https://dss.example.com"),
    ],
)
def test_host_normalisation(host: str, port: int | None, base_url: str) -> None:
    config = cfg(host, port=port)
    assert config.base_url == base_url
    assert config.api_root == base_url + "/public/api"
    assert config.web_url == base_url


@pytest.mark.parametrize(
    ("host", "message"),
    [
        (None, "has no host"),
        ("", "has no host"),
        ("ftp://dss.example.com", "must use http or https, not 'ftp'"),
        ("http://dss.example.com:notaport", "is not a valid URL"),
        ("http://exa mple.com", "is not a valid URL"),
        ("http://", "is not a valid URL"),
        ("https://dss_$host!", "is not a valid URL"),
    ],
)
def test_malformed_hosts(host: str | None, message: str) -> None:
    with pytest.raises(DSSConfigurationError, match=message) as info:
        cfg(host)
    assert "Connection 'c'" in str(info.value)


def test_defaults() -> None:
    config = cfg()
    assert (config.auth_method, config.verify, config.timeout, config.retries) == ("basic", True, 30.0, 5)
    assert config.client_cert is None and config.extra_headers == {} and config.public_url is None
    assert config.api_prefix == "/public/api"


def test_string_extras_are_coerced() -> None:
    config = cfg(extra='{"verify_ssl": "false", "timeout": "12.5", "retries": "3", "auth_method": "Bearer"}')
    assert config.verify is False and config.timeout == 12.5 and config.retries == 3
    assert config.auth_method == "bearer"


def test_tls_and_misc_options() -> None:
    config = cfg(
        extra={
            "ca_bundle": "/etc/ca.pem",
            "client_cert": "/c.pem",
            "client_key": "/k.pem",
            "api_prefix": "/dip/publicapi",
            "public_url": "dss.example.org/",
            "extra_headers": '{"X-Proxy-Token": "abc"}',
        }
    )
    assert config.verify == "/etc/ca.pem"
    assert config.client_cert == ("/c.pem", "/k.pem")
    assert config.api_root == "https://dss.example.com/dip/publicapi"
    assert config.web_url == "https://dss.example.org"
    assert config.headers()["X-Proxy-Token"] == "abc"
    # verify_ssl=false wins over a CA bundle
    assert cfg(extra={"verify_ssl": False, "ca_bundle": "/etc/ca.pem"}).verify is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extra": {"timeout": 0}}, "timeout must be > 0"),
        ({"extra": {"timeout": -3}}, "timeout must be > 0"),
        ({"extra": {"timeout": "soon"}}, "timeout must be a number, got 'soon'"),
        ({"extra": {"retries": -1}}, "retries must be >= 0"),
        ({"extra": {"retries": "many"}}, "retries must be a number"),
        ({"timeout": 0.0}, "timeout must be > 0"),
        ({"retries": -2}, "retries must be >= 0"),
        ({"extra": {"verify_ssl": "maybe"}}, "verify_ssl must be true or false, got 'maybe'"),
        ({"extra": {"auth_method": "digest"}}, "auth_method must be 'basic' or 'bearer', got 'digest'"),
        ({"extra": {"api_prefix": "/api"}}, "api_prefix must be"),
        ({"extra": {"extra_headers": "not json"}}, "extra_headers must be a JSON object"),
        ({"extra": {"extra_headers": [1]}}, "extra_headers must be a JSON object"),
        ({"extra": "{not json"}, "extra is not valid JSON"),
        ({"extra": "[1, 2]"}, "extra must be a JSON object"),
        ({"password": None}, "has no API key"),
        ({"password": ""}, "has no API key"),
        ({"conn_type": "http"}, "is of type 'http', not 'dataiku_dss'"),
    ],
)
def test_invalid_fields(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DSSConfigurationError, match=message) as info:
        cfg(**kwargs)
    assert KEY not in str(info.value)


def test_key_from_extra_and_hyphenated_type() -> None:
    config = cfg(password=None, conn_type="dataiku-dss", extra={"api_key": "from-extra"})
    assert config.api_key == "from-extra"


def test_timeout_and_retries_arguments_override_the_connection() -> None:
    config = cfg(extra={"timeout": 5, "retries": 9}, timeout=2, retries=0)
    assert (config.timeout, config.retries) == (2.0, 0)


def test_repr_and_headers_never_show_the_key_in_repr() -> None:
    config = cfg()
    assert KEY not in repr(config)
    assert "base_url='https://dss.example.com'" in repr(config)
    basic = config.headers()["Authorization"]
    assert basic == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert cfg(extra={"auth_method": "bearer"}).headers()["Authorization"] == f"Bearer {KEY}"


def test_extra_headers_cannot_replace_the_authorization_header() -> None:
    config = cfg(extra={"extra_headers": {"Authorization": "Basic other"}})
    assert config.headers()["Authorization"].startswith("Basic ") and config.headers()["Authorization"] != (
        "Basic other"
    )


# --- through Airflow: env var forms, against the emulator --------------------------------------


def test_uri_form_with_string_extras(dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"dataiku-dss://:{dss_emulator.api_key}@dss.example.com:11200/?verify_ssl=false&retries=1&timeout=7"
    monkeypatch.setenv("AIRFLOW_CONN_DSS_URI", uri)
    config = DSSHook("dss_uri").config
    assert config.base_url == "https://dss.example.com:11200"
    assert config.api_key == dss_emulator.api_key
    assert (config.verify, config.retries, config.timeout) == (False, 1, 7.0)


def test_uri_form_with_an_encoded_http_scheme_talks_to_the_emulator(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"dataiku-dss://:{dss_emulator.api_key}@http%3A%2F%2F127.0.0.1:{dss_emulator.port}/"
    monkeypatch.setenv("AIRFLOW_CONN_DSS_URI", uri)
    hook = DSSHook("dss_uri", retries=0)
    assert hook.config.base_url == f"http://127.0.0.1:{dss_emulator.port}"
    assert [s.id for s in hook.list_scenarios("OTHER")] == ["REFRESH"]


def test_json_form_with_dip_prefix_and_host_holding_the_api_path(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(
        monkeypatch,
        "dss_json",
        host=dss_emulator.url + "/dip/publicapi/",
        password=dss_emulator.api_key,
        extra={"api_prefix": "/dip/publicapi"},
    )
    hook = DSSHook("dss_json", retries=0)
    assert hook.config.api_root == dss_emulator.url + "/dip/publicapi"
    assert hook.get_scenario("DEMO", "BUILD_SALES").get_status().running is False


@pytest.mark.parametrize("auth_method", ["basic", "bearer"])
def test_both_auth_forms_are_accepted_by_dss(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch, auth_method: str
) -> None:
    set_conn(
        monkeypatch,
        "dss_auth",
        host=dss_emulator.url,
        password=dss_emulator.api_key,
        extra={"auth_method": auth_method},
    )
    ok, message = DSSHook("dss_auth", retries=0).test_connection()
    assert ok, message
    set_conn(
        monkeypatch, "dss_auth", host=dss_emulator.url, password="wrong", extra={"auth_method": auth_method}
    )
    with pytest.raises(DSSAuthenticationError, match="Unknown API Key"):
        DSSHook("dss_auth", retries=0).list_scenarios("DEMO")


@responses.activate
def test_headers_sent_on_the_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        "dss_wire",
        host="https://dss.example.com",
        password=KEY,
        extra={"auth_method": "bearer", "extra_headers": {"X-Proxy-Token": "tok", "X-Team": "data"}},
    )
    responses.get("https://dss.example.com/public/api/projects/DEMO/scenarios/", json=[])
    responses.get("https://dss.example.com/public/api/projects/DEMO/scenarios/S/get-last-runs", json=[])
    responses.post(
        "https://dss.example.com/public/api/projects/DEMO/scenarios/S/run",
        json={"runId": "TR", "trigger": {"id": "manual"}, "cancelled": False},
    )
    hook = DSSHook("dss_wire", retries=0)
    assert hook.list_scenarios("DEMO") == []
    hook.get_scenario("DEMO", "S").run({"a": 1})
    get = responses.calls[0].request
    post = next(c.request for c in responses.calls if c.request.method == "POST")
    assert get.headers["Authorization"] == f"Bearer {KEY}"
    assert get.headers["X-Proxy-Token"] == "tok" and get.headers["X-Team"] == "data"
    assert get.headers["User-Agent"].startswith("airflow-provider-dataiku/")
    assert post.headers["Content-Type"] == "application/json"
    assert post.body == b'{"a": 1}'


def test_missing_connection(dss_emulator: DSSEmulator) -> None:
    with pytest.raises(DSSConfigurationError, match="Connection 'no_such_conn' could not be loaded") as info:
        DSSHook("no_such_conn").list_scenarios("DEMO")
    assert "AIRFLOW_CONN_NO_SUCH_CONN" in str(info.value)
    ok, message = DSSHook("no_such_conn").test_connection()
    assert ok is False and "no_such_conn" in message


def test_connection_of_another_type(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "an_http_conn", conn_type="http", host="https://dss.example.com", password=KEY)
    with pytest.raises(DSSConfigurationError, match="is of type 'http', not 'dataiku_dss'"):
        _ = DSSHook("an_http_conn").config


def test_malformed_host_through_the_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "bad_host", host="http://dss.example.com:port", password=KEY)
    ok, message = DSSHook("bad_host").test_connection()
    assert ok is False and "is not a valid URL" in message and KEY not in message


@pytest.mark.parametrize("conn_id", ["", None, 3])
def test_hook_conn_id_validation(conn_id: Any) -> None:
    with pytest.raises(DSSConfigurationError, match="dss_conn_id must be a non-empty string"):
        DSSHook(conn_id)


def test_scheme_extra_decides_what_a_bare_host_means() -> None:
    assert cfg("127.0.0.1", port=8080, extra={"scheme": "http"}).base_url == "http://127.0.0.1:8080"
    assert cfg("dss.example.com", extra='{"scheme": "HTTPS"}').base_url == "https://dss.example.com"
    # An explicit scheme in the host wins over the extra.
    assert cfg("https://dss.example.com", extra={"scheme": "http"}).base_url == "https://dss.example.com"
    with pytest.raises(DSSConfigurationError, match="scheme must be 'http' or 'https', got 'ftp'"):
        cfg(extra={"scheme": "ftp"})


def test_emulator_uri_form_talks_to_the_emulator(
    dss_emulator: DSSEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DSS_URI", dss_emulator.connection_uri())
    hook = DSSHook("dss_uri", retries=0)
    assert hook.config.base_url == f"http://127.0.0.1:{dss_emulator.port}"
    assert hook.test_connection()[0] is True
