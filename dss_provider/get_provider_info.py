"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from dss_provider import __version__


def get_provider_info() -> dict[str, Any]:
    """The provider's metadata for Airflow's ProvidersManager (``apache_airflow_provider`` entry point)."""
    integration = "Dataiku DSS"
    return {
        "package-name": "airflow-provider-dataiku",
        "name": "Dataiku DSS",
        "description": "Run, wait for, sense and abort Dataiku DSS scenarios; fetch their logs and "
        "JUnit reports. Ships an embedded DSS emulator for tests.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://doc.dataiku.com/dss/latest/publicapi/rest.html",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": integration,
                "python-modules": ["dss_provider.hooks.dss", "dss_provider.hooks.dss_async"],
            }
        ],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "dss_provider.operators.run_scenario",
                    "dss_provider.operators.abort",
                    "dss_provider.operators.run_log_report",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": integration,
                "python-modules": ["dss_provider.sensors.trigger_fire", "dss_provider.sensors.scenario_run"],
            }
        ],
        "triggers": [
            {
                "integration-name": integration,
                "python-modules": [
                    "dss_provider.triggers.trigger_fire",
                    "dss_provider.triggers.scenario_run",
                    "dss_provider.triggers.run_events",
                ],
            }
        ],
        "extra-links": ["dss_provider.links.run_link.DSSScenarioRunLink"],
        "connection-types": [
            {
                "connection-type": "dataiku_dss",
                "hook-class-name": "dss_provider.hooks.dss.DSSHook",
                "hook-name": "Dataiku DSS",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port"],
                    "relabeling": {"host": "DSS URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://dss.example.com:11200",
                        "password": "a personal or global DSS API key",
                    },
                },
                "conn-fields": {
                    "verify_ssl": {
                        "label": "Verify TLS certificate",
                        "description": "Turn off only for test instances with self-signed certificates.",
                        "schema": {"type": "boolean", "default": True},
                    },
                    "ca_bundle": {
                        "label": "CA bundle path",
                        "description": "PEM file of the CA that signed DSS's certificate.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_cert": {
                        "label": "Client certificate path",
                        "description": "PEM client certificate for mutual TLS.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_key": {
                        "label": "Client key path",
                        "description": "PEM private key of the client certificate.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "extra_headers": {
                        "label": "Extra HTTP headers (JSON)",
                        "description": 'Sent with every request, e.g. {"X-Proxy-Token": "..."}.',
                        "schema": {"type": ["object", "null"], "format": "json"},
                    },
                    "auth_method": {
                        "label": "Auth header form",
                        "description": "basic: the API key as Basic user (the official client's default); "
                        "bearer: Authorization: Bearer <key> (DSS 13+).",
                        "schema": {"type": "string", "enum": ["basic", "bearer"], "default": "basic"},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": "number", "minimum": 1, "default": 30},
                    },
                    "retries": {
                        "label": "Retries per request",
                        "description": "Retries of connection errors, timeouts, 429 and 5xx, with backoff.",
                        "schema": {"type": "integer", "minimum": 0, "default": 5},
                    },
                    "public_url": {
                        "label": "DSS web URL for links",
                        "description": "Where people open DSS, if not the API host.",
                        "schema": {"type": ["string", "null"], "format": "url"},
                    },
                },
            }
        ],
    }
