"""nextRun computation of temporal triggers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dss_provider.emulator.temporal import next_occurrence, next_run_ms

NOW = datetime(2026, 3, 4, 10, 30, tzinfo=timezone.utc).timestamp()  # a Wednesday


def at(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"frequency": "Minutely", "repeatFrequency": 5}, at(2026, 3, 4, 10, 35)),
        ({"frequency": "Hourly", "minute": 15}, at(2026, 3, 4, 11, 15)),
        ({"frequency": "Hourly", "minute": 45, "repeatFrequency": 2}, at(2026, 3, 4, 10, 45)),
        ({"frequency": "Daily", "hour": 2, "minute": 0}, at(2026, 3, 5, 2, 0)),
        ({"frequency": "Daily", "hour": 12, "minute": 0}, at(2026, 3, 4, 12, 0)),
        ({"frequency": "Weekly", "hour": 9, "minute": 0, "daysOfWeek": ["Monday"]}, at(2026, 3, 9, 9, 0)),
        (
            {"frequency": "Monthly", "hour": 2, "minute": 0, "startingFrom": "2026-01-01T00:00:00.000+0000"},
            at(2026, 4, 1, 2, 0),
        ),
        (
            {
                "frequency": "Monthly",
                "hour": 2,
                "minute": 0,
                "monthlyRunOn": "LAST_DAY_OF_THE_MONTH",
                "startingFrom": "2026-01-01T00:00:00.000+0000",
            },
            at(2026, 3, 31, 2, 0),
        ),
        ({"frequency": "Daily", "hour": 2, "minute": 0, "timezone": "Europe/Paris"}, at(2026, 3, 5, 1, 0)),
    ],
)
def test_next_occurrence(params: dict, expected: float) -> None:
    assert next_occurrence(params, NOW) == expected


def test_next_run_ms_only_active() -> None:
    trig = {"type": "temporal", "active": True, "params": {"frequency": "Hourly", "minute": 15}}
    assert next_run_ms({"active": True, "triggers": [trig]}, NOW) == round(at(2026, 3, 4, 11, 15) * 1000)
    assert next_run_ms({"active": False, "triggers": [trig]}, NOW) == 0
    assert next_run_ms({"active": True, "triggers": [{**trig, "active": False}]}, NOW) == 0
    assert next_run_ms({"active": True, "triggers": [{"type": "ds_modified", "active": True}]}, NOW) == 0
    assert next_run_ms({"active": True, "triggers": []}, NOW) == 0
