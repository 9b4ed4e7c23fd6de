"""When to poll next: an adaptive schedule shared by the worker waits, the triggers and the sensors.

Without history, the gap grows with the time already waited (10% of it), between ``poll_interval`` and
``max_interval``: a long run costs few requests, a short one is seen quickly. When the scenario's recent
average duration is known, polls are spread out early and tightened near the expected end, so the end
of a run that finishes on time is seen within one ``poll_interval``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from dss_provider.exceptions import DSSConfigurationError

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
_GROWTH = 0.1
_JITTER = 0.1


def check_positive(value: object, what: str, *, allow_none: bool = False) -> float | None:
    """Validate a user-given number of seconds (a timedelta is accepted too)."""
    if value is None and allow_none:
        return None
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise DSSConfigurationError(f"{what} must be a number of seconds or a timedelta, got {value!r}.")
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise DSSConfigurationError(f"{what} must be greater than 0 seconds, got {value!r}.")
    return float(seconds)


@dataclass(frozen=True)
class PollSchedule:
    """Gaps between polls. ``expected_duration`` is the scenario's recent average run time, if known."""

    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_interval: float = DEFAULT_MAX_POLL_INTERVAL
    expected_duration: float | None = None

    def __post_init__(self) -> None:
        check_positive(self.poll_interval, "poll_interval")
        check_positive(self.max_interval, "max_poll_interval")
        if self.max_interval < self.poll_interval:
            object.__setattr__(self, "max_interval", self.poll_interval)

    def next_delay(self, elapsed: float, rng: random.Random | None = None) -> float:
        """Seconds to sleep before the next poll, ``elapsed`` seconds after the run started."""
        low, high = self.poll_interval, self.max_interval
        expected = self.expected_duration
        if expected and elapsed < expected - low:
            # Aim half-way to the expected end, never past the point one short interval before it.
            remaining = expected - elapsed
            delay = min(max(remaining / 2, low), remaining - low, high)
            return max(delay, low)
        since = elapsed - expected if expected and elapsed >= expected else elapsed
        delay = min(max(low, since * _GROWTH), high)
        if rng is not None and delay > low:
            delay = max(low, delay * (1 + rng.uniform(-_JITTER, _JITTER)))
        return delay
