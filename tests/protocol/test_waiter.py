"""The sans-IO waiter: every action it answers, on a fake clock (no DSS, no sleeping)."""

from __future__ import annotations

import random

import pytest

from dss_provider.exceptions import (
    DSSAPIError,
    DSSConfigurationError,
    DSSNotFoundError,
    DSSTarget,
    DSSTransientError,
)
from dss_provider.protocol.polling import PollSchedule
from dss_provider.protocol.retry import DSSTransportError
from dss_provider.protocol.waiter import POLL, Done, GiveUp, Sleep, Waiter

SCHEDULE = PollSchedule(poll_interval=2.0, max_interval=60.0)


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def transient(retry_after: float | None = None) -> DSSTransientError:
    err = DSSTransientError("HTTP 503 from DSS", http_status=503)
    err.retry_after = retry_after
    return err


def waiter(clock: Clock, **kwargs: object) -> Waiter[str]:
    return Waiter(SCHEDULE, clock=clock, **kwargs)  # type: ignore[arg-type]


def test_the_first_step_is_a_poll() -> None:
    assert waiter(Clock()).start() == POLL


def test_a_final_answer_is_done_with_its_value() -> None:
    assert waiter(Clock()).answered("run-1") == Done("run-1")


def test_a_pending_answer_sleeps_the_schedule_gap_of_the_time_elapsed() -> None:
    clock = Clock()
    w = waiter(clock)
    assert w.answered(None) == Sleep(SCHEDULE.next_delay(0.0))
    clock.advance(300.0)
    assert w.answered(None) == Sleep(SCHEDULE.next_delay(300.0)) == Sleep(30.0)


def test_elapsed_comes_from_the_driver_when_it_knows_the_run_start() -> None:
    w = waiter(Clock(), elapsed=lambda: 1000.0)
    assert w.answered(None) == Sleep(SCHEDULE.max_interval)


def test_sleeps_end_at_the_deadline_and_the_next_answer_gives_up() -> None:
    clock = Clock()
    w = waiter(clock, deadline=clock.now + 0.5)
    assert w.answered(None) == Sleep(0.5)
    clock.advance(0.5)
    assert w.answered(None) == GiveUp("deadline")


def test_a_final_answer_past_the_deadline_is_still_done() -> None:
    clock = Clock()
    assert waiter(clock, deadline=clock.now - 5).answered("late") == Done("late")


def test_transient_failures_back_off_doubling_up_to_max_interval() -> None:
    w = waiter(Clock(), max_consecutive_failures=100)
    gaps = [w.failed(transient()) for _ in range(7)]
    assert gaps == [Sleep(s, n) for n, s in enumerate([2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0], 1)]
    assert w.failures == 7


def test_backoff_is_at_least_retry_after() -> None:
    assert waiter(Clock()).failed(transient(retry_after=45.0)) == Sleep(45.0, 1)


def test_backoff_ends_at_the_deadline_and_a_failure_past_it_gives_up_with_the_error() -> None:
    clock = Clock()
    w = waiter(clock, deadline=clock.now + 1.0)
    err = transient()
    assert w.failed(err) == Sleep(1.0, 1)
    clock.advance(1.0)
    assert w.failed(err) == GiveUp("deadline", err, 2)


def test_the_limit_th_failure_in_a_row_gives_up_with_the_last_error() -> None:
    w = waiter(Clock(), max_consecutive_failures=3)
    errors = [transient() for _ in range(3)]
    assert [w.failed(e) for e in errors[:2]] == [Sleep(2.0, 1), Sleep(4.0, 2)]
    assert w.failed(errors[2]) == GiveUp("failures", errors[2], 3)


def test_an_answer_resets_the_failure_budget() -> None:
    w = waiter(Clock(), max_consecutive_failures=2)
    assert w.failed(transient()) == Sleep(2.0, 1)
    assert isinstance(w.answered(None), Sleep)
    assert w.failures == 0
    assert w.failed(transient()) == Sleep(2.0, 1)  # the backoff starts over too
    assert isinstance(w.failed(transient()), GiveUp)


@pytest.mark.parametrize(
    "error",
    [
        DSSNotFoundError("run 1 not found", http_status=404),
        DSSAPIError("bad request", http_status=400),
        ValueError("not a DSS error"),
    ],
    ids=["404", "400", "other"],
)
def test_a_permanent_failure_gives_up_at_once(error: BaseException) -> None:
    w = waiter(Clock())
    assert w.failed(error) == GiveUp("permanent", error, 0)
    assert w.failures == 0


def test_connection_failures_and_5xx_are_transient() -> None:
    w = waiter(Clock())
    assert isinstance(w.failed(DSSAPIError("HTTP 500", http_status=500)), Sleep)
    assert isinstance(
        w.failed(DSSTransportError("refused", target=DSSTarget(), maybe_processed=False)), Sleep
    )


def test_a_tls_failure_is_permanent() -> None:
    err = DSSTransportError("bad certificate", target=DSSTarget(), maybe_processed=False, tls=True)
    assert waiter(Clock()).failed(err).reason == "permanent"  # type: ignore[union-attr]


def test_jitter_stays_within_ten_percent_and_the_schedule_bounds() -> None:
    rng = random.Random(7)
    w = waiter(Clock(), rng=rng, max_consecutive_failures=1000)
    for failures in range(1, 12):
        gap = w.failed(transient())
        assert isinstance(gap, Sleep)
        plain = SCHEDULE.backoff(failures)
        assert (
            max(SCHEDULE.poll_interval, plain * 0.9) <= gap.seconds <= min(plain * 1.1, SCHEDULE.max_interval)
        )


def test_a_huge_failure_count_does_not_overflow() -> None:
    assert SCHEDULE.backoff(100_000) == SCHEDULE.max_interval


def test_the_budget_must_allow_one_failure() -> None:
    with pytest.raises(DSSConfigurationError, match="max_consecutive_failures must be an integer >= 1"):
        Waiter(SCHEDULE, max_consecutive_failures=0)


def test_actions_are_frozen_values() -> None:
    with pytest.raises(AttributeError):
        Sleep(1.0).seconds = 2.0  # type: ignore[misc]
    assert Done("x") == Done("x") and GiveUp("deadline") != GiveUp("failures")
