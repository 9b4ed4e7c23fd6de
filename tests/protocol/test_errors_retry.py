"""Status -> exception mapping and the retry policy shared by both transports."""

from __future__ import annotations

import json
import random

import pytest

from dss_provider.exceptions import (
    DSSAPIError,
    DSSAuthenticationError,
    DSSBadRequestError,
    DSSConfigurationError,
    DSSNotFoundError,
    DSSPermissionError,
    DSSTransientError,
)
from dss_provider.protocol import endpoints as ep
from dss_provider.protocol import retry
from dss_provider.protocol.errors import decode_json, error_for_status, parse_retry_after
from dss_provider.protocol.retry import DSSTransportError, backoff_delay, is_ambiguous, should_retry

GET = ep.get_settings("DEMO", "BUILD_SALES")
RUN = ep.run_scenario("DEMO", "BUILD_SALES")


def _body(error_type: str, message: str, detailed: str | None = None) -> str:
    return json.dumps({"errorType": error_type, "message": message, "detailedMessage": detailed})


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, DSSAuthenticationError),
        (403, DSSPermissionError),
        (404, DSSNotFoundError),
        (400, DSSBadRequestError),
        (413, DSSBadRequestError),
        (422, DSSBadRequestError),
        (429, DSSTransientError),
        (500, DSSTransientError),
        (502, DSSTransientError),
        (503, DSSTransientError),
        (504, DSSTransientError),
        (418, DSSAPIError),
        (501, DSSAPIError),
    ],
)
def test_status_mapping(status: int, cls: type[DSSAPIError]) -> None:
    err = error_for_status(GET, status, _body("com.x.E", "boom"))
    assert type(err) is cls
    assert err.http_status == status
    assert err.error_type == "com.x.E"
    assert err.dss_message == "boom"
    assert f"HTTP {status}" in str(err)


def test_message_quotes_dss_prefers_detailed_message_and_names_the_target() -> None:
    err = error_for_status(
        GET,
        401,
        _body(
            "com.dataiku.dip.exceptions.NotAuthenticatedException", "Unknown API Key", "Unknown API Key: x"
        ),
    )
    text = str(err)
    assert "DSS GET /projects/DEMO/scenarios/BUILD_SALES for project DEMO, scenario BUILD_SALES" in text
    assert "NotAuthenticatedException: Unknown API Key: x" in text
    assert "password field" in text  # the advice
    assert err.target.project_key == "DEMO" and err.method == "GET"


def test_html_and_non_json_error_bodies_are_described() -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    err = error_for_status(GET, 502, html, "text/html; charset=utf-8")
    assert isinstance(err, DSSTransientError)
    assert "an HTML page (likely from a proxy): <html><head><title>502 Bad Gateway" in str(err)
    assert err.error_type is None
    plain = error_for_status(GET, 500, "Internal fault", "text/plain")
    assert "a non-JSON body: Internal fault" in str(plain)
    empty = error_for_status(GET, 503, "", "")
    assert "an empty body" in str(empty)


def test_long_bodies_are_quoted_bounded() -> None:
    err = error_for_status(GET, 500, "x" * 5000, "text/plain")
    assert "x" * 300 + "..." in str(err)
    assert "x" * 301 not in str(err)


def test_decode_json() -> None:
    assert decode_json(GET, 200, '{"a": 1}') == {"a": 1}
    assert decode_json(GET, 200, "  ") == {}
    with pytest.raises(
        DSSTransientError, match='answered HTTP 200 with a body that is not valid JSON: \\{"a"'
    ):
        decode_json(GET, 200, '{"a": ')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("600", 60.0),
        (None, None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def _transient(status: int | None) -> DSSTransientError:
    return DSSTransientError("x", http_status=status)


def _transport(maybe: bool) -> DSSTransportError:
    return DSSTransportError("x", target=GET.target, maybe_processed=maybe)


@pytest.mark.parametrize(
    ("error", "safe_retry", "run_retry", "ambiguous"),
    [
        (_transport(False), True, True, False),  # refused: DSS never saw it
        (_transport(True), True, False, True),  # reset after sending: maybe processed
        (_transient(429), True, True, False),
        (_transient(503), True, True, False),
        (_transient(500), True, False, True),
        (_transient(502), True, False, True),
        (_transient(504), True, False, True),
        (_transient(200), True, False, True),  # cut/unusable 200 body
        (_transient(None), True, False, True),
        (DSSNotFoundError("x", http_status=404), False, False, False),
        (DSSConfigurationError("x"), False, False, False),
    ],
)
def test_retry_policy(error: Exception, safe_retry: bool, run_retry: bool, ambiguous: bool) -> None:
    assert should_retry(GET, error) is safe_retry
    assert should_retry(RUN, error) is run_retry
    assert is_ambiguous(error) is ambiguous


def test_backoff_is_bounded_and_honours_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BACKOFF_BASE", 1.0)
    monkeypatch.setattr(retry, "BACKOFF_MAX", 4.0)
    rng = random.Random(1)
    delays = [backoff_delay(n, None, rng) for n in range(1, 20) for _ in range(20)]
    assert min(delays) >= 0.5
    assert max(delays) <= 4.0
    err = _transient(429)
    err.retry_after = 7.0
    assert all(backoff_delay(1, err, rng) >= 7.0 for _ in range(20))


def test_transport_error_advice() -> None:
    tls = retry.transport_error(
        GET, "https://h/public/api", "TLS error (bad cert)", maybe_processed=False, tls=True
    )
    assert "ca_bundle" in str(tls) and "https://h/public/api/projects/DEMO/scenarios/BUILD_SALES" in str(tls)
    net = retry.transport_error(GET, "http://h/public/api", "refused", maybe_processed=False)
    assert "host and port" in str(net) and net.maybe_processed is False
