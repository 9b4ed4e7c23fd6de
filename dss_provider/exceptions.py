"""Errors raised by the Dataiku DSS provider.

Every class is an :class:`~airflow.exceptions.AirflowException`, so Airflow retries apply, and each is
distinct so a ``RetryPolicy`` can name it (for example retry :class:`DSSTransientError`, fail fast on
:class:`DSSScenarioRunFailed`). Messages name what was asked (project, scenario, run) and quote what
DSS said; they never contain the API key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dss_provider.compat import AirflowException


@dataclass(frozen=True, slots=True)
class DSSTarget:
    """What a request was about: used to word every error."""

    project_key: str | None = None
    scenario_id: str | None = None
    run_id: str | None = None
    trigger_id: str | None = None
    trigger_run_id: str | None = None
    step_id: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    def describe(self) -> str:
        """What was asked, in words: ``project K, scenario S, run R``."""
        parts = []
        if self.project_key:
            parts.append(f"project {self.project_key}")
        if self.scenario_id:
            parts.append(f"scenario {self.scenario_id}")
        if self.trigger_id and self.trigger_run_id:
            parts.append(f"trigger fire {self.trigger_id}/{self.trigger_run_id}")
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.step_id:
            parts.append(f"step {self.step_id}")
        parts.extend(f"{k} {v}" for k, v in self.extra)
        return ", ".join(parts) or "the DSS instance"


class DSSError(AirflowException):
    """Base class of every error of this provider."""


class DSSConfigurationError(DSSError, ValueError):
    """A connection or operator argument is wrong; fix the DAG or the connection, do not retry."""


class DSSConnectionError(DSSError):
    """DSS could not be reached (refused, reset, timed out, TLS failure) after all retries."""


class DSSAPIError(DSSError):
    """DSS answered with an error.

    :param http_status: the HTTP status, or None when the answer was unusable (not JSON, truncated).
    :param error_type: DSS's ``errorType`` (a Java class name), when DSS sent one.
    :param dss_message: DSS's own message (``detailedMessage``, else ``message``).
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_type: str | None = None,
        dss_message: str | None = None,
        target: DSSTarget | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error_type = error_type
        self.dss_message = dss_message
        self.target = target or DSSTarget()
        self.method = method
        self.path = path
        #: Seconds DSS asked us to wait (``Retry-After``), when it did.
        self.retry_after: float | None = None


class DSSTransientError(DSSAPIError):
    """A fault that may clear by itself (429, 5xx from DSS or a proxy, unusable body) after retries."""


class DSSAuthenticationError(DSSAPIError):
    """The API key is unknown or missing (HTTP 401)."""


class DSSPermissionError(DSSAPIError):
    """The API key may not access this project or object (HTTP 403)."""


class DSSNotFoundError(DSSAPIError):
    """The project, scenario, run, step or trigger fire does not exist (HTTP 404)."""


class DSSBadRequestError(DSSAPIError):
    """DSS refused the request as malformed (HTTP 400, 413, 422)."""


class DSSScenarioRunFailed(DSSError):
    """A scenario run ended with an outcome the task does not accept (FAILED, ABORTED, or WARNING)."""

    def __init__(
        self,
        message: str,
        *,
        outcome: str,
        target: DSSTarget,
        first_error: dict[str, Any] | None = None,
        run: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.target = target
        self.first_error = first_error
        self.run = run


class DSSTriggerFireCancelled(DSSError):
    """DSS cancelled the trigger fire (the scenario was already running, or another trigger fired)."""

    def __init__(self, message: str, *, target: DSSTarget) -> None:
        super().__init__(message)
        self.target = target


class DSSTimeoutError(DSSError):
    """A wait passed its deadline (the run, if any, has been asked to abort when that was requested)."""

    def __init__(self, message: str, *, target: DSSTarget) -> None:
        super().__init__(message)
        self.target = target


class DSSTriggerEventError(DSSError):
    """A trigger event is missing, malformed, or has an unknown status."""


__all__ = [
    "DSSAPIError",
    "DSSAuthenticationError",
    "DSSBadRequestError",
    "DSSConfigurationError",
    "DSSConnectionError",
    "DSSError",
    "DSSNotFoundError",
    "DSSPermissionError",
    "DSSScenarioRunFailed",
    "DSSTarget",
    "DSSTimeoutError",
    "DSSTransientError",
    "DSSTriggerEventError",
    "DSSTriggerFireCancelled",
]
