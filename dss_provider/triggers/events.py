"""The payloads DSS triggers send back to operators and sensors, and their validation.

One event per trigger, a JSON object with a ``status``:

- ``run_started`` (fire trigger): the fire became a run; ``run_id`` and ``run`` (the run dict) are set.
- ``cancelled`` (fire trigger, or run trigger given a fire): DSS cancelled the trigger fire.
- ``finished`` (run trigger): the run ended; ``outcome`` and ``run`` (the run dict, with steps) are set,
  ``first_error`` holds the first error details of a failed run and ``warning`` the first step
  warning of a WARNING run (events of older triggers may lack ``warning``).
- ``timeout``: the wall-clock deadline passed; the run (if any) was *not* aborted by the trigger.
- ``error``: the wait could not go on (permanent DSS error, or too many consecutive failures);
  ``message`` says what failed and ``error_class`` names the provider exception.

Every event also carries ``project_key``, ``scenario_id``, ``trigger_id``, ``trigger_run_id``,
``run_id`` (None when unknown) and a human ``message``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dss_provider.exceptions import DSSTriggerEventError

if TYPE_CHECKING:
    from dss_provider.exceptions import DSSError

RUN_STARTED = "run_started"
CANCELLED = "cancelled"
FINISHED = "finished"
TIMEOUT = "timeout"
ERROR = "error"

FIRE_TRIGGER_STATUSES = frozenset({RUN_STARTED, CANCELLED, TIMEOUT, ERROR})
RUN_TRIGGER_STATUSES = frozenset({FINISHED, CANCELLED, TIMEOUT, ERROR})
_REQUIRED = {
    RUN_STARTED: ("run_id", "run"),
    FINISHED: ("run_id", "outcome", "run"),
    CANCELLED: (),
    TIMEOUT: (),
    ERROR: ("message",),
}


def make_event(status: str, **fields: Any) -> dict[str, Any]:
    """Build a payload (the trigger side)."""
    base = {
        "status": status,
        "project_key": None,
        "scenario_id": None,
        "trigger_id": None,
        "trigger_run_id": None,
        "run_id": None,
        "message": "",
    }
    base.update(fields)
    return base


def validate_event(event: object, allowed: frozenset[str], *, task: str) -> dict[str, Any]:
    """Check a payload on the receiving side; a missing or unknown status fails clearly."""
    if not isinstance(event, dict):
        raise DSSTriggerEventError(
            f"{task} resumed from its trigger without a valid event (got {type(event).__name__}): "
            "the trigger may have been killed or failed; see the triggerer log."
        )
    status = event.get("status")
    if status not in allowed:
        what = "no status" if status is None else f"unknown status {status!r}"
        raise DSSTriggerEventError(
            f"{task} got a trigger event with {what}"
            f" (expected one of {', '.join(sorted(allowed))}): {event!r}"
        )
    missing = [key for key in _REQUIRED.get(str(status), ()) if event.get(key) in (None, "")]
    if missing:
        raise DSSTriggerEventError(
            f"{task} got a {status!r} trigger event without {', '.join(missing)}: {event!r}"
        )
    return event


def exception_from_event(event: dict[str, Any]) -> DSSError:
    """The provider exception an ``error`` event stands for (``error_class`` names it)."""
    from dss_provider import exceptions
    from dss_provider.exceptions import (
        DSSAPIError,
        DSSConfigurationError,
        DSSConnectionError,
        DSSError,
        DSSTarget,
    )

    name = str(event.get("error_class") or "")
    message = str(event.get("message") or "the DSS trigger reported an error without a message")
    cls = DSSConnectionError if name == "DSSTransportError" else getattr(exceptions, name, None)
    target = DSSTarget(
        project_key=event.get("project_key"),
        scenario_id=event.get("scenario_id"),
        run_id=event.get("run_id"),
        trigger_id=event.get("trigger_id"),
        trigger_run_id=event.get("trigger_run_id"),
    )
    if isinstance(cls, type) and issubclass(cls, DSSAPIError):
        return cls(message, http_status=event.get("http_status"), target=target)
    if cls in (DSSConfigurationError, DSSConnectionError, DSSError):
        return cls(message)
    return DSSError(message)
