"""Reading a ``dataiku_dss`` Airflow connection into a validated config (pure; no I/O).

Both hooks use this, so the sync worker path and the async triggerer path read a connection the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from dss_provider import __version__
from dss_provider.exceptions import DSSConfigurationError

CONN_TYPE = "dataiku_dss"
DEFAULT_CONN_ID = "dataiku_dss_default"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 5
USER_AGENT = f"airflow-provider-dataiku/{__version__}"

AuthMethod = Literal["basic", "bearer"]
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class DSSConnectionConfig:
    """Everything a hook needs to talk to DSS. ``api_key`` is never shown in its repr."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    api_prefix: str = "/public/api"
    auth_method: AuthMethod = "basic"
    verify: bool | str = True
    client_cert: str | tuple[str, str] | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    public_url: str | None = None

    @property
    def api_root(self) -> str:
        """The URL of DSS's public API."""
        return self.base_url + self.api_prefix

    @property
    def web_url(self) -> str:
        """Where people open DSS (for links): the ``public_url`` option, else the API host."""
        return self.public_url or self.base_url

    def auth_header(self) -> str:
        """The ``Authorization`` header value (Basic or Bearer, with the key)."""
        if self.auth_method == "bearer":
            return f"Bearer {self.api_key}"
        import base64

        return "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode("ascii")

    def headers(self) -> dict[str, str]:
        """The headers of every request."""
        return {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            **self.extra_headers,
            "Authorization": self.auth_header(),
        }


def _as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DSSConfigurationError(f"{what} must be true or false, got {value!r}.")


def _as_number(value: Any, what: str, *, integer: bool = False, minimum: float = 0.0) -> float:
    try:
        number = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise DSSConfigurationError(f"{what} must be a number, got {value!r}.") from None
    if number < minimum or (not integer and number == 0 and minimum == 0):
        raise DSSConfigurationError(f"{what} must be {'>=' if integer else '>'} {minimum}, got {value!r}.")
    return number


def normalize_base_url(host: str | None, port: int | None, conn_id: str, scheme: str = "https") -> str:
    """``dss.example.com`` -> ``https://dss.example.com`` (or ``scheme``); keeps an explicit scheme/port."""
    raw = (host or "").strip()
    if not raw.rstrip("/"):
        raise DSSConfigurationError(
            f"Connection {conn_id!r} has no host: set it to the DSS URL, e.g. https://dss.example.com:11200."
        )
    if "://" not in raw:
        raw = f"{scheme}://{raw}"
    try:
        parts = urlsplit(raw)
        parsed_port = parts.port
    except ValueError as err:
        raise DSSConfigurationError(
            f"Connection {conn_id!r} host {host!r} is not a valid URL: {err}."
        ) from None
    if parts.scheme not in ("http", "https"):
        raise DSSConfigurationError(
            f"Connection {conn_id!r} host {host!r} must use http or https, not {parts.scheme!r}."
        )
    hostname = parts.hostname or ""
    if not hostname or not re.match(r"^[A-Za-z0-9.\-\[\]:]+$", hostname) or " " in raw:
        raise DSSConfigurationError(f"Connection {conn_id!r} host {host!r} is not a valid URL.")
    netloc = parts.netloc.rsplit("@", 1)[-1].rstrip(":")
    if port and parsed_port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    for prefix in ("/public/api", "/dip/publicapi"):
        if path.endswith(prefix):
            path = path[: -len(prefix)]
    return f"{parts.scheme}://{netloc}{path}"


def _scheme(value: Any, conn_id: str) -> str:
    """The ``scheme`` extra: what a host without ``http://``/``https://`` means (default https)."""
    scheme = str(value or "https").strip().lower()
    if scheme not in ("http", "https"):
        raise DSSConfigurationError(
            f"Connection {conn_id!r} scheme must be 'http' or 'https', got {value!r}."
        )
    return scheme


def parse_extra(extra: str | dict[str, Any] | None, conn_id: str) -> dict[str, Any]:
    """The connection's extra as a dict (without ``extra_dejson``, which masks secrets synchronously)."""
    if not extra:
        return {}
    if isinstance(extra, dict):
        return extra
    try:
        value = json.loads(extra)
    except ValueError:
        raise DSSConfigurationError(f"Connection {conn_id!r} extra is not valid JSON.") from None
    if not isinstance(value, dict):
        raise DSSConfigurationError(f"Connection {conn_id!r} extra must be a JSON object.")
    return value


def config_from_connection(
    *,
    conn_id: str,
    conn_type: str | None,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: str | dict[str, Any] | None,
    timeout: float | None = None,
    retries: int | None = None,
) -> DSSConnectionConfig:
    """Validate a connection's fields; every problem names the connection and the field to fix."""
    if conn_type and conn_type.replace("-", "_") != CONN_TYPE:
        raise DSSConfigurationError(
            f"Connection {conn_id!r} is of type {conn_type!r}, not {CONN_TYPE!r}. "
            f"Use a Dataiku DSS connection (URI scheme 'dataiku-dss://')."
        )
    options = parse_extra(extra, conn_id)
    api_key = password or options.get("api_key") or ""
    if not api_key:
        raise DSSConfigurationError(
            f"Connection {conn_id!r} has no API key: put it in the connection's password field."
        )
    auth_method = str(options.get("auth_method") or "basic").lower()
    if auth_method not in ("basic", "bearer"):
        raise DSSConfigurationError(
            f"Connection {conn_id!r} auth_method must be 'basic' or 'bearer', got {auth_method!r}."
        )
    verify: bool | str = _as_bool(options.get("verify_ssl", True), f"Connection {conn_id!r} verify_ssl")
    if verify and options.get("ca_bundle"):
        verify = str(options["ca_bundle"])
    cert: str | tuple[str, str] | None = None
    if options.get("client_cert"):
        cert = str(options["client_cert"])
        if options.get("client_key"):
            cert = (cert, str(options["client_key"]))
    headers = options.get("extra_headers") or {}
    if isinstance(headers, str):
        try:
            headers = json.loads(headers) if headers.strip() else {}
        except ValueError:
            raise DSSConfigurationError(
                f"Connection {conn_id!r} extra_headers must be a JSON object of header names to values."
            ) from None
    if not isinstance(headers, dict):
        raise DSSConfigurationError(f"Connection {conn_id!r} extra_headers must be a JSON object.")
    prefix = str(options.get("api_prefix") or "/public/api")
    if prefix not in ("/public/api", "/dip/publicapi"):
        raise DSSConfigurationError(
            f"Connection {conn_id!r} api_prefix must be '/public/api' or '/dip/publicapi', got {prefix!r}."
        )
    public_url = options.get("public_url")
    return DSSConnectionConfig(
        conn_id=conn_id,
        base_url=normalize_base_url(host, port, conn_id, _scheme(options.get("scheme"), conn_id)),
        api_key=api_key,
        api_prefix=prefix,
        auth_method=auth_method,  # type: ignore[arg-type]
        verify=verify,
        client_cert=cert,
        extra_headers={str(k): str(v) for k, v in headers.items()},
        timeout=_as_number(
            timeout if timeout is not None else options.get("timeout", DEFAULT_TIMEOUT),
            f"Connection {conn_id!r} timeout",
        ),
        retries=int(
            _as_number(
                retries if retries is not None else options.get("retries", DEFAULT_RETRIES),
                f"Connection {conn_id!r} retries",
                integer=True,
            )
        ),
        public_url=normalize_base_url(str(public_url), None, conn_id) if public_url else None,
    )


def connection_load_error(conn_id: str, err: BaseException) -> DSSConfigurationError:
    """The error for a connection Airflow could not load (missing, or its secrets backend failed)."""
    return DSSConfigurationError(
        f"Connection {conn_id!r} could not be loaded: {err}. Create it in the UI or set "
        f"AIRFLOW_CONN_{conn_id.upper()} (type {CONN_TYPE!r}, host = DSS URL, password = API key)."
    )


def config_from_airflow_connection(
    conn: Any, conn_id: str, *, timeout: float | None = None, retries: int | None = None
) -> DSSConnectionConfig:
    """:func:`config_from_connection` over an Airflow ``Connection``.

    Its raw ``extra`` string is read, never ``extra_dejson``, which masks secrets synchronously and
    breaks on the triggerer loop.
    """
    return config_from_connection(
        conn_id=conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        port=conn.port,
        password=conn.password,
        extra=conn.extra,
        timeout=timeout,
        retries=retries,
    )
