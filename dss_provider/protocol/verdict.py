"""The one decision on a finished run: its outcome and the WARNING policy give pass or fail, and why.

Every caller (the run operator, the run sensor, the seed-compatible handles, the run trigger's event
message) asks :func:`judge`; each words the failure around :attr:`Verdict.reason` with its own target.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from dss_provider.protocol.models import (
    RunOutcome,
    describe_error,
    first_error_details,
    first_warning,
    run_outcome,
)

#: What passes by default: SUCCESS, and WARNING unless ``fail_on_warning``.
DEFAULT_ACCEPTED = (RunOutcome.SUCCESS.value, RunOutcome.WARNING.value)


def accepted_outcomes(fail_on_warning: bool) -> tuple[str, ...]:
    """The outcomes that pass under the WARNING policy."""
    return (RunOutcome.SUCCESS.value,) if fail_on_warning else DEFAULT_ACCEPTED


@dataclass(frozen=True)
class Verdict:
    """Pass or fail of a finished run. ``reason``: the first error, or the first warning, in words."""

    outcome: str
    passed: bool
    accepted: tuple[str, ...]
    reason: str
    first_error: dict[str, Any] | None = None
    warning: str | None = None

    @property
    def is_warning(self) -> bool:
        """The run ended WARNING (passed or not)."""
        return self.outcome == RunOutcome.WARNING.value


def judge(
    outcome: str | None,
    *,
    fail_on_warning: bool = False,
    accepted: Collection[str] | None = None,
    first_error: dict[str, Any] | None = None,
    warning: str | None = None,
) -> Verdict:
    """Decide a finished run. ``accepted`` (e.g. a sensor's ``success_outcomes``) overrides the policy."""
    allowed = tuple(accepted) if accepted is not None else accepted_outcomes(fail_on_warning)
    name = str(outcome or "UNKNOWN")
    if name == RunOutcome.WARNING.value:
        reason = warning or "no warning details"
    else:
        reason = describe_error(first_error)
    return Verdict(name, name in allowed, allowed, reason, first_error, warning)


def judge_details(
    details: dict[str, Any], *, fail_on_warning: bool = False, accepted: Collection[str] | None = None
) -> Verdict:
    """:func:`judge` over DSS run details (``scenarioRun`` and ``stepRuns``)."""
    return judge(
        run_outcome(details.get("scenarioRun") or {}),
        fail_on_warning=fail_on_warning,
        accepted=accepted,
        first_error=first_error_details(details),
        warning=first_warning(details),
    )
