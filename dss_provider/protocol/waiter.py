"""One wait, without I/O: after each poll, what to do next (poll, sleep, done or give up).

Every wait of the provider drives a :class:`Waiter`: the worker's blocking waits
(:mod:`dss_provider.hooks.waiting`), the triggers' loop (``triggers/_base.py``) and the sensors' poke
(one poke is one step). The waiter never sleeps, never calls DSS and reads time only through the
clocks it is given; the driver polls, tells it what happened, and does what it answers:

- :meth:`Waiter.start` answers :class:`Poll`: poll now (after a :class:`Sleep` the driver polls again);
- :meth:`Waiter.answered` with a final value answers :class:`Done`; with None (not there yet), a
  :class:`Sleep` of the schedule's next gap (:meth:`PollSchedule.next_delay` of the time elapsed);
- :meth:`Waiter.failed` with a transient error answers a :class:`Sleep` of the backoff
  (:meth:`PollSchedule.backoff`: ``poll_interval`` doubling with each failure in a row up to
  ``max_interval``, at least the server's ``Retry-After``); the ``max_consecutive_failures``-th failure
  in a row, or any permanent one (:func:`~dss_provider.protocol.retry.is_transient`), answers
  :class:`GiveUp`. An answer resets the count.

The deadline (epoch seconds) clips every sleep, so the last poll comes at the deadline; an answer that
is not final, or a failure, at or past it answers ``GiveUp("deadline")``. A final answer is
:class:`Done` whatever the time. With ``rng``, both gaps are jittered by up to 10%.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from dss_provider.checks import check_int
from dss_provider.protocol.polling import DEFAULT_MAX_CONSECUTIVE_FAILURES, PollSchedule
from dss_provider.protocol.retry import is_transient

T = TypeVar("T")

#: Why a wait gave up: its deadline passed, too many failures in a row, or a failure that cannot clear.
GiveUpReason = Literal["deadline", "failures", "permanent"]


@dataclass(frozen=True, slots=True)
class Poll:
    """Poll now."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Sleep ``seconds``, then poll; ``failures`` counts the failed polls in a row before this gap."""

    seconds: float
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """The wait is over: ``value`` is the final answer."""

    value: T


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The wait ends without a final answer.

    Attributes:
        reason: ``deadline``, ``failures`` (``max_consecutive_failures`` in a row) or ``permanent``.
        error: the last failure, None when the deadline passed after an answer.
        failures: the failed polls in a row at that point.
    """

    reason: GiveUpReason
    error: BaseException | None = None
    failures: int = 0


#: What a waiter answers.
Action = Poll | Sleep | Done[T] | GiveUp

POLL = Poll()


class Waiter(Generic[T]):
    """The state of one wait: its schedule, deadline and failure budget.

    Args:
        schedule: the gaps between polls (and the backoff after failures).
        deadline: epoch seconds after which the wait gives up; None for none.
        max_consecutive_failures: transient failures in a row that end the wait (at least 1).
        elapsed: seconds the awaited thing has been going, for the schedule (e.g. since the run
            started); by default, since the waiter was made.
        clock: epoch seconds now (``time.time``).
        rng: jitters the gaps when given.
    """

    __slots__ = ("_clock", "_elapsed", "_rng", "_started", "deadline", "failures", "limit", "schedule")

    def __init__(
        self,
        schedule: PollSchedule,
        *,
        deadline: float | None = None,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        elapsed: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.schedule = schedule
        self.deadline = deadline
        self.limit = check_int(max_consecutive_failures, "max_consecutive_failures")
        #: Failed polls in a row so far.
        self.failures = 0
        self._clock = clock
        self._elapsed = elapsed
        self._started = clock()
        self._rng = rng

    def start(self) -> Poll:
        """The first step: poll now."""
        return POLL

    def answered(self, value: T | None) -> Done[T] | Sleep | GiveUp:
        """A poll got an answer: ``value`` when final, None when not yet (resets the failure count)."""
        self.failures = 0
        if value is not None:
            return Done(value)
        now = self._clock()
        if self.deadline is not None and now >= self.deadline:
            return GiveUp("deadline")
        elapsed = self._elapsed() if self._elapsed is not None else now - self._started
        return Sleep(self._clip(self.schedule.next_delay(elapsed, self._rng), now))

    def failed(self, error: BaseException) -> Sleep | GiveUp:
        """A poll failed with ``error``: back off, or give up (permanent, too many, past the deadline)."""
        if not is_transient(error):
            return GiveUp("permanent", error, self.failures)
        self.failures += 1
        if self.failures >= self.limit:
            return GiveUp("failures", error, self.failures)
        now = self._clock()
        if self.deadline is not None and now >= self.deadline:
            return GiveUp("deadline", error, self.failures)
        delay = self.schedule.backoff(self.failures, error, self._rng)
        return Sleep(self._clip(delay, now), self.failures)

    def _clip(self, delay: float, now: float) -> float:
        """``delay``, ending by the deadline."""
        return delay if self.deadline is None else max(min(delay, self.deadline - now), 0.0)


__all__ = ["POLL", "Action", "Done", "GiveUp", "GiveUpReason", "Poll", "Sleep", "Waiter"]
