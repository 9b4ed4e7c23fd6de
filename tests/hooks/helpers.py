"""Helpers of the hook tests."""

from __future__ import annotations

import json
import os
import socket

import pytest

from tests.tls_server import TLSServer


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    """Define a connection through its AIRFLOW_CONN_ env var (JSON form)."""
    fields.setdefault("conn_type", "dataiku_dss")
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def env_conn(conn_id: str) -> dict[str, object]:
    return json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])


def free_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


__all__ = ["TLSServer", "env_conn", "free_port", "set_conn"]
