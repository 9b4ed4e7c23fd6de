"""One mapping from a DSS answer (HTTP status + body) to our exceptions, shared by both transports."""

from __future__ import annotations

import json
from typing import Any

from dss_provider.exceptions import (
    DSSAPIError,
    DSSAuthenticationError,
    DSSBadRequestError,
    DSSNotFoundError,
    DSSPermissionError,
    DSSTransientError,
)
from dss_provider.protocol.endpoints import ApiRequest

#: Statuses worth another try for a request that is safe to repeat.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses that say the request was not processed, so even a run request may be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})

_ADVICE = {
    401: "Check the API key in the connection's password field (DSS: Administration > Security > API keys).",
    403: "Give the API key access to this project, or use a key that has it.",
    404: "Check the project key, scenario id and run id (they are case-sensitive).",
    429: "DSS is rate limiting; the provider retried with backoff. Lower the polling rate or retry later.",
}
_MAX_BODY_QUOTE = 300


def _parse_body(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat[:_MAX_BODY_QUOTE] + ("..." if len(flat) > _MAX_BODY_QUOTE else "")


def error_for_status(request: ApiRequest, status: int, text: str, content_type: str = "") -> DSSAPIError:
    """The exception for an HTTP error answer, naming what was asked, what DSS said, and what to do."""
    body = _parse_body(text)
    if body is not None:
        error_type = body.get("errorType")
        dss_message = body.get("detailedMessage") or body.get("message") or "no message"
    else:
        error_type = None
        kind = "an HTML page (likely from a proxy)" if "html" in content_type.lower() else "a non-JSON body"
        dss_message = f"{kind}: {_excerpt(text)}" if text.strip() else "an empty body"
    cls: type[DSSAPIError]
    if status == 401:
        cls = DSSAuthenticationError
    elif status == 403:
        cls = DSSPermissionError
    elif status == 404:
        cls = DSSNotFoundError
    elif status in (400, 405, 409, 413, 415, 422):
        cls = DSSBadRequestError
    elif status in RETRYABLE_STATUSES:
        cls = DSSTransientError
    else:
        cls = DSSAPIError
    said = f"{error_type}: {dss_message}" if error_type else dss_message
    advice = _ADVICE.get(status) or (
        "DSS or a proxy in front of it failed; retried with backoff without success."
        if status >= 500
        else "See DSS's message above."
    )
    message = (
        f"DSS {request.method} {request.path} for {request.target.describe()} failed "
        f"with HTTP {status}: {said}. {advice}"
    )
    return cls(
        message,
        http_status=status,
        error_type=error_type,
        dss_message=dss_message,
        target=request.target,
        method=request.method,
        path=request.path,
    )


def error_for_bad_body(request: ApiRequest, status: int, text: str, problem: str) -> DSSTransientError:
    """A success status whose body is unusable (truncated JSON, HTML from a proxy)."""
    return DSSTransientError(
        f"DSS {request.method} {request.path} for {request.target.describe()} answered HTTP {status} "
        f"with {problem}: {_excerpt(text) or 'an empty body'}. A proxy or DSS itself cut the answer; "
        "retried with backoff without success.",
        http_status=status,
        dss_message=problem,
        target=request.target,
        method=request.method,
        path=request.path,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds form; HTTP dates are ignored), capped at 60."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), 60.0)


def decode_json(request: ApiRequest, status: int, text: str) -> Any:
    """Decode a JSON success body, or raise a transient error naming the problem."""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        raise error_for_bad_body(request, status, text, "a body that is not valid JSON") from None
