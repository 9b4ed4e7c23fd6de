"""Provider metadata: Airflow's schema, entry point discovery, connection type and form fields."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import pytest

from dss_provider import __version__
from dss_provider.get_provider_info import get_provider_info


def test_provider_info_passes_airflows_schema() -> None:
    from airflow.providers_manager import _create_provider_info_schema_validator

    info = get_provider_info()
    _create_provider_info_schema_validator().validate(info)
    assert info["package-name"] == "airflow-provider-dataiku"
    assert info["versions"] == [__version__]


def test_entry_point_is_discoverable() -> None:
    found = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("dss_provider.")
    ]
    assert len(found) == 1
    assert found[0].value == "dss_provider.get_provider_info:get_provider_info"
    assert found[0].load()() == get_provider_info()


def test_hook_modules_and_hook_class_import() -> None:
    info = get_provider_info()
    for module in info["hooks"][0]["python-modules"]:
        importlib.import_module(module)
    conn = info["connection-types"][0]
    module, _, name = conn["hook-class-name"].rpartition(".")
    hook_class = getattr(importlib.import_module(module), name)
    assert hook_class.conn_type == conn["connection-type"] == "dataiku_dss"
    assert hook_class.hook_name == conn["hook-name"]


@pytest.fixture(scope="module")
def manager():  # type: ignore[no-untyped-def]
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_providers_manager_registers_the_connection_type(manager) -> None:  # type: ignore[no-untyped-def]
    assert "airflow-provider-dataiku" in manager.providers
    assert manager.providers["airflow-provider-dataiku"].version == __version__
    behaviour = manager.field_behaviours["dataiku_dss"]
    assert behaviour["hidden_fields"] == ["schema", "login", "port"]
    assert behaviour["relabeling"] == {"host": "DSS URL", "password": "API key"}
    widgets = {k for k in manager.connection_form_widgets if k.startswith("extra__dataiku_dss__")}
    assert widgets == {
        f"extra__dataiku_dss__{name}"
        for name in (
            "verify_ssl",
            "ca_bundle",
            "client_cert",
            "client_key",
            "extra_headers",
            "auth_method",
            "timeout",
            "retries",
            "public_url",
        )
    }


def test_conn_field_names_are_the_extras_the_hook_reads() -> None:
    from dss_provider.hooks.connection import config_from_connection

    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    extra = {
        "verify_ssl": False,
        "ca_bundle": None,
        "client_cert": "/c.pem",
        "client_key": "/k.pem",
        "extra_headers": {"X-A": "1"},
        "auth_method": "bearer",
        "timeout": 3,
        "retries": 1,
        "public_url": "https://dss.example.org",
    }
    assert set(fields) == set(extra)
    config = config_from_connection(
        conn_id="c", conn_type="dataiku_dss", host="dss.example.com", port=None, password="k", extra=extra
    )
    assert (config.verify, config.client_cert, config.auth_method, config.timeout, config.retries) == (
        False,
        ("/c.pem", "/k.pem"),
        "bearer",
        3.0,
        1,
    )
    assert config.extra_headers == {"X-A": "1"} and config.web_url == "https://dss.example.org"
    for name, field in fields.items():
        default = field["schema"].get("default")
        if default is not None:
            single = config_from_connection(
                conn_id="c", conn_type="dataiku_dss", host="h", port=None, password="k", extra={name: default}
            )
            assert single is not None
