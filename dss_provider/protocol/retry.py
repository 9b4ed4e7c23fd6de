"""When to send a request again: one policy for the sync (requests) and async (aiohttp) hooks.

Requests that are safe to repeat are retried on connection failures, timeouts, 429 and 5xx answers and
unusable bodies. A run request (which fires a trigger) is re-sent only when DSS surely did not process
it (connection refused, connect timeout, 429, 503); any other failure is ambiguous and is settled by the
hook, which looks for the run the request may have started before firing again.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import tenacity

from dss_provider.exceptions import DSSAPIError, DSSConnectionError, DSSTarget, DSSTransientError
from dss_provider.protocol.endpoints import ApiRequest
from dss_provider.protocol.errors import NOT_PROCESSED_STATUSES, RETRYABLE_STATUSES

BACKOFF_BASE = 0.5
BACKOFF_MAX = 20.0


class DSSTransportError(DSSConnectionError):
    """DSS was not reached, or did not answer.

    ``maybe_processed`` is False only when it surely did not see the request (refused, connect timeout).
    """

    def __init__(
        self,
        message: str,
        *,
        target: DSSTarget,
        maybe_processed: bool,
        retry_after: float | None = None,
        tls: bool = False,
    ) -> None:
        super().__init__(message)
        self.target = target
        self.maybe_processed = maybe_processed
        self.retry_after = retry_after
        #: A TLS failure (bad certificate, http spoken to https): retrying cannot help.
        self.tls = tls


def transport_error(
    request: ApiRequest, url_root: str, reason: str, *, maybe_processed: bool, tls: bool = False
) -> DSSTransportError:
    """The error for a request that got no usable HTTP answer, with what to check."""
    advice = (
        "Check the certificate: set the connection's ca_bundle option, or verify_ssl=false for a "
        "test instance; also check http vs https."
        if tls
        else "Check the connection's host and port, that DSS is up and reachable from this machine, "
        "and http vs https."
    )
    return DSSTransportError(
        f"Could not get an answer from DSS at {url_root}{request.path} for {request.target.describe()}: "
        f"{reason}. {advice}",
        target=request.target,
        maybe_processed=maybe_processed,
        tls=tls,
    )


def should_retry(request: ApiRequest, error: BaseException) -> bool:
    """Whether ``error`` from one attempt of ``request`` is worth another attempt."""
    if isinstance(error, DSSTransportError):
        return not error.tls and (request.retry_safe or not error.maybe_processed)
    if isinstance(error, DSSTransientError):
        status = error.http_status
        if request.retry_safe:
            return status is None or status in RETRYABLE_STATUSES or status < 400
        return status in NOT_PROCESSED_STATUSES
    return False


def is_ambiguous(error: BaseException) -> bool:
    """A failed run request that DSS may nevertheless have processed."""
    if isinstance(error, DSSTransportError):
        return error.maybe_processed
    if isinstance(error, DSSTransientError):
        return error.http_status not in NOT_PROCESSED_STATUSES
    return False


def backoff_delay(attempt: int, error: BaseException | None, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter, at least the server's ``Retry-After``."""
    uniform = rng.uniform if rng else random.uniform
    ceiling = min(BACKOFF_MAX, BACKOFF_BASE * (2 ** max(attempt - 1, 0)))
    delay = uniform(BACKOFF_BASE / 2, max(ceiling, BACKOFF_BASE / 2))
    retry_after: Any = getattr(error, "retry_after", None)
    if retry_after:
        delay = max(delay, float(retry_after))
    return delay


def describe_exception(err: BaseException) -> str:
    """A transport exception's text, bounded (it holds URLs, never headers or the key)."""
    text = str(err) or type(err).__name__
    return text if len(text) < 300 else text[:300] + "..."


def is_transient(err: BaseException) -> bool:
    """Whether a failed poll may succeed later (so the wait goes on)."""
    if isinstance(err, DSSTransportError) and err.tls:
        return False
    if isinstance(err, (DSSTransientError, DSSConnectionError)):
        return True
    # An error answer outside the known classes: a 5xx may clear, a 4xx will not.
    return type(err) is DSSAPIError and (err.http_status is None or err.http_status >= 500)


def _retry_wait(state: tenacity.RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return backoff_delay(state.attempt_number, error)


def retrying_rule(request: ApiRequest, retries: int, log: logging.Logger) -> dict[str, Any]:
    """The tenacity arguments for ``request`` (``Retrying`` or ``AsyncRetrying``).

    Up to ``retries`` more attempts after a failure :func:`should_retry` accepts, :func:`backoff_delay`
    apart, each logged.
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "DSS %s %s (attempt %d) failed: %s; retrying in %.1fs",
            request.method,
            request.path,
            state.attempt_number,
            error,
            wait,
        )

    return {
        "stop": tenacity.stop_after_attempt(retries + 1),
        "wait": _retry_wait,
        "retry": tenacity.retry_if_exception(lambda e: should_retry(request, e)),
        "before_sleep": before_sleep,
        "reraise": True,
    }
