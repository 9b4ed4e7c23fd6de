"""Next occurrence of DSS time-based (``temporal``) triggers, for the light status ``nextRun``.

Supported ``params.frequency``: ``Minutely`` (``repeatFrequency`` minutes), ``Hourly`` (at
``minute``, every ``repeatFrequency`` hours from ``hour``), ``Daily`` (``hour:minute`` every
``repeatFrequency`` days), ``Weekly`` (``daysOfWeek`` names, every ``repeatFrequency`` weeks) and
``Monthly`` (``monthlyRunOn``: ``ON_THE_DAY`` of ``startingFrom``, ``LAST_DAY_OF_THE_MONTH``, or the
``startingFrom`` weekday in the ``FIRST``..``FOURTH``/``LAST_WEEK``). ``startingFrom`` anchors the
schedule; ``timezone`` is an IANA name or ``SERVER`` (the emulator's server time zone is UTC).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEK_INDEX = {"FIRST_WEEK": 0, "SECOND_WEEK": 1, "THIRD_WEEK": 2, "FOURTH_WEEK": 3}


def _tz(name: Any) -> tzinfo:
    if not isinstance(name, str) or name in ("", "SERVER"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _int(value: Any, default: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return default
    try:
        n = int(value)
    except ValueError:
        return default
    return min(max(n, lo), hi)


def _anchor(params: dict[str, Any], tz: tzinfo, now: datetime) -> datetime:
    raw = params.get("startingFrom")
    if isinstance(raw, str) and raw:
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d"):
            try:
                parsed = datetime.strptime(raw, fmt)
            except ValueError:
                continue
            return parsed.astimezone(tz) if parsed.tzinfo else parsed.replace(tzinfo=tz)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _at(day: date, hour: int, minute: int, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def _monthly_day(year: int, month: int, run_on: str, anchor: datetime) -> int:
    last = calendar.monthrange(year, month)[1]
    if run_on == "LAST_DAY_OF_THE_MONTH":
        return last
    if run_on in _WEEK_INDEX or run_on == "LAST_WEEK":
        weekday = anchor.weekday()
        first = (weekday - date(year, month, 1).weekday()) % 7 + 1
        days = list(range(first, last + 1, 7))
        return days[-1] if run_on == "LAST_WEEK" else days[min(_WEEK_INDEX[run_on], len(days) - 1)]
    return min(anchor.day, last)


@dataclass(frozen=True)
class _Schedule:
    """A temporal trigger's parameters, read once: what every frequency needs."""

    params: dict[str, Any]
    tz: tzinfo
    now: datetime
    now_ts: float
    every: int
    hour: int
    minute: int
    anchor: datetime

    def first_after_now(self, candidates: Iterable[datetime]) -> float | None:
        """The first candidate strictly after now (epoch seconds), or None."""
        for candidate in candidates:
            if candidate.timestamp() > self.now_ts:
                return candidate.timestamp()
        return None


def _periodic(base: float, period: float, now_ts: float) -> float:
    if base > now_ts:
        return base
    return base + ((now_ts - base) // period + 1) * period


def _minutely(s: _Schedule) -> float | None:
    return _periodic(s.anchor.timestamp(), s.every * 60, s.now_ts)


def _hourly(s: _Schedule) -> float | None:
    return _periodic(_at(s.anchor.date(), s.hour, s.minute, s.tz).timestamp(), s.every * 3600, s.now_ts)


def _daily(s: _Schedule) -> float | None:
    start_day = s.anchor.date()
    k = max(0, (s.now.date() - start_day).days // s.every)
    return s.first_after_now(
        _at(start_day + timedelta(days=i * s.every), s.hour, s.minute, s.tz) for i in range(k, k + 3)
    )


def _weekly(s: _Schedule) -> float | None:
    days = {DAY_NAMES.index(d) for d in s.params.get("daysOfWeek") or [] if d in DAY_NAMES}
    if not days:
        return None
    week0 = s.anchor.date() - timedelta(days=s.anchor.weekday())
    first = max(s.now.date(), s.anchor.date())
    candidates = (first + timedelta(days=i) for i in range(7 * s.every + 8))
    return s.first_after_now(
        _at(day, s.hour, s.minute, s.tz)
        for day in candidates
        if day.weekday() in days and ((day - week0).days // 7) % s.every == 0
    )


def _monthly(s: _Schedule) -> float | None:
    run_on = str(s.params.get("monthlyRunOn", "ON_THE_DAY"))
    anchor = s.anchor
    months_from_anchor = max(0, (s.now.year - anchor.year) * 12 + s.now.month - anchor.month)
    k = months_from_anchor // s.every
    for i in range(k, k + 3):
        total = anchor.month - 1 + i * s.every
        year, month = anchor.year + total // 12, total % 12 + 1
        dom = _monthly_day(year, month, run_on, anchor)
        candidate = _at(date(year, month, dom), s.hour, s.minute, s.tz)
        if candidate.timestamp() > s.now_ts and candidate >= anchor.replace(hour=0, minute=0):
            return candidate.timestamp()
    return None


_BY_FREQUENCY: dict[str, Callable[[_Schedule], float | None]] = {
    "Minutely": _minutely,
    "Hourly": _hourly,
    "Daily": _daily,
    "Weekly": _weekly,
    "Monthly": _monthly,
}


def next_occurrence(params: dict[str, Any], now_ts: float) -> float | None:
    """Epoch seconds of the first occurrence strictly after ``now_ts``, or None."""
    tz = _tz(params.get("timezone"))
    now = datetime.fromtimestamp(now_ts, tz=tz)
    schedule = _Schedule(
        params=params,
        tz=tz,
        now=now,
        now_ts=now_ts,
        every=_int(params.get("repeatFrequency"), 1, 1, 10_000),
        hour=_int(params.get("hour"), 0, 0, 23),
        minute=_int(params.get("minute"), 0, 0, 59),
        anchor=_anchor(params, tz, now),
    )
    next_of = _BY_FREQUENCY.get(params.get("frequency", "Daily"))
    return None if next_of is None else next_of(schedule)


def next_run_ms(settings: dict[str, Any], now_ts: float) -> int:
    """``nextRun`` of a scenario: earliest occurrence of its active temporal triggers (0 if none)."""
    if not settings.get("active", False):
        return 0
    best: float | None = None
    for trig in settings.get("triggers") or []:
        if not isinstance(trig, dict) or trig.get("type") != "temporal" or not trig.get("active", False):
            continue
        params = trig.get("params")
        t = next_occurrence(params if isinstance(params, dict) else {}, now_ts)
        if t is not None and (best is None or t < best):
            best = t
    return 0 if best is None else round(best * 1000)
