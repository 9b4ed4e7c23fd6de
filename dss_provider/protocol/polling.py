"""When to poll next: an adaptive schedule shared by the worker waits, the triggers and the sensors.

Without history, the gap grows with the time already waited (10% of it), between ``poll_interval`` and
``max_interval``: a long run costs few requests, a short one is seen quickly.

When the scenario's recent average duration ``E`` is known (``expected_duration``), runs are assumed to
end within +/-20% of it. Before that window the gap halves the distance to it (and is never more than
half the time already waited, so an early failure is still seen soon); inside the window polls come
every ``max(poll_interval, 2% of E)``; past it the gap grows again. A run that ends on time is seen
within one short interval, at a fraction of the requests of a fixed or geometric schedule
(``benchmarks/polling.py`` measures it against the official client's).

After a failed poll the gap is :meth:`PollSchedule.backoff` instead: ``poll_interval`` doubling with
each failure in a row, up to ``max_interval``. :class:`~dss_provider.protocol.waiter.Waiter` applies
both, with the deadline and the failure budget, for every wait.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Re-exported: callers (and older code) use polling.check_positive.
from dss_provider.checks import check_positive as check_positive

DEFAULT_POLL_INTERVAL = 2.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
#: Polling of a trigger fire (DSS turns a manual fire into a run within seconds).
DEFAULT_FIRE_POLL_INTERVAL = 1.0
DEFAULT_FIRE_MAX_POLL_INTERVAL = 10.0
#: Longest gap of a handle's wait given only a ``poll_interval`` (``run_and_wait(poll_interval=...)``).
DEFAULT_HANDLE_MAX_POLL_INTERVAL = 15.0
#: Gaps while the abort operator waits for an aborted run to end.
DEFAULT_ABORT_POLL_INTERVAL = 2.0
DEFAULT_ABORT_MAX_POLL_INTERVAL = 10.0
#: Polling of a late fire's run after the deadline (see the run operator's grace period).
LATE_FIRE_POLL_INTERVAL = 0.5
LATE_FIRE_MAX_POLL_INTERVAL = 2.0
#: Failed polls in a row (each after the hook's own retries) that end a wait (worker, trigger, sensor).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10
_GROWTH = 0.1
_JITTER = 0.1
#: Runs are expected to end within +/- this fraction of the expected duration.
_SPREAD = 0.2
#: Gap inside that window, as a fraction of the expected duration (at least ``poll_interval``).
_TIGHT = 0.02


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
        if expected:
            window_start, window_end = expected * (1 - _SPREAD), expected * (1 + _SPREAD)
            tight = min(max(expected * _TIGHT, low), high)
            if elapsed < window_start - tight:
                to_window = window_start - elapsed
                return max(low, min(to_window / 2, max(low, elapsed / 2), high, to_window))
            if elapsed <= window_end:
                return tight
            return min(max(tight, tight + (elapsed - window_end) * _GROWTH), high)
        delay = min(max(low, elapsed * _GROWTH), high)
        if rng is not None and delay > low:
            delay = max(low, delay * (1 + rng.uniform(-_JITTER, _JITTER)))
        return delay

    def backoff(
        self, failures: int, error: BaseException | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to sleep after the ``failures``-th failed poll in a row.

        ``poll_interval`` doubling with each failure up to ``max_interval`` (jittered by up to 10% with
        ``rng``), and at least the server's ``Retry-After``.
        """
        delay = min(self.poll_interval * 2.0 ** min(failures - 1, 64), self.max_interval)
        if rng is not None:
            delay = min(
                max(self.poll_interval, delay * (1 + rng.uniform(-_JITTER, _JITTER))), self.max_interval
            )
        retry_after = getattr(error, "retry_after", None)
        return max(delay, float(retry_after)) if retry_after else delay


def fire_schedule(
    poll_interval: float = DEFAULT_FIRE_POLL_INTERVAL, max_interval: float | None = None
) -> PollSchedule:
    """The schedule of a wait for a trigger fire to become a run: at most the fire defaults.

    DSS turns a fire into a run within seconds, whatever the run's own schedule.
    """
    return PollSchedule(
        min(poll_interval, DEFAULT_FIRE_POLL_INTERVAL),
        min(max_interval or DEFAULT_FIRE_MAX_POLL_INTERVAL, DEFAULT_FIRE_MAX_POLL_INTERVAL),
    )


def capped_schedule(poll_interval: float, max_interval: float) -> PollSchedule:
    """``poll_interval`` growing up to at least ``max_interval`` (the larger of the two)."""
    return PollSchedule(poll_interval, max(poll_interval, max_interval))
