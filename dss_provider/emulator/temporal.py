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


def next_occurrence(params: dict[str, Any], now_ts: float) -> float | None:
    """Epoch seconds of the first occurrence strictly after ``now_ts``, or None."""
    tz = _tz(params.get("timezone"))
    now = datetime.fromtimestamp(now_ts, tz=tz)
    freq = params.get("frequency", "Daily")
    every = _int(params.get("repeatFrequency"), 1, 1, 10_000)
    hour = _int(params.get("hour"), 0, 0, 23)
    minute = _int(params.get("minute"), 0, 0, 59)
    anchor = _anchor(params, tz, now)
    if freq == "Minutely":
        period = every * 60
        base = anchor.timestamp()
        if base > now_ts:
            return base
        return base + ((now_ts - base) // period + 1) * period
    if freq == "Hourly":
        base = _at(anchor.date(), hour, minute, tz).timestamp()
        period = every * 3600
        if base > now_ts:
            return base
        return base + ((now_ts - base) // period + 1) * period
    if freq == "Daily":
        start_day = anchor.date()
        k = max(0, (now.date() - start_day).days // every)
        for i in range(k, k + 3):
            candidate = _at(start_day + timedelta(days=i * every), hour, minute, tz)
            if candidate.timestamp() > now_ts:
                return candidate.timestamp()
        return None
    if freq == "Weekly":
        days = {DAY_NAMES.index(d) for d in params.get("daysOfWeek") or [] if d in DAY_NAMES}
        if not days:
            return None
        week0 = anchor.date() - timedelta(days=anchor.weekday())
        day = max(now.date(), anchor.date())
        for _ in range(7 * every + 8):
            if day.weekday() in days and ((day - week0).days // 7) % every == 0:
                candidate = _at(day, hour, minute, tz)
                if candidate.timestamp() > now_ts:
                    return candidate.timestamp()
            day += timedelta(days=1)
        return None
    if freq == "Monthly":
        run_on = str(params.get("monthlyRunOn", "ON_THE_DAY"))
        months_from_anchor = max(0, (now.year - anchor.year) * 12 + now.month - anchor.month)
        k = months_from_anchor // every
        for i in range(k, k + 3):
            total = anchor.month - 1 + i * every
            year, month = anchor.year + total // 12, total % 12 + 1
            dom = _monthly_day(year, month, run_on, anchor)
            candidate = _at(date(year, month, dom), hour, minute, tz)
            if candidate.timestamp() > now_ts and candidate >= anchor.replace(hour=0, minute=0):
                return candidate.timestamp()
        return None
    return None


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
