"""The café's own clock: its IANA time zone and its business day.

Rows are stored in UTC; every hour and day a person sees is the site's local time, and
a day is the *business* day (default 04:00 to 04:00), so a bar open until 2 a.m. keeps
its night in one day. zoneinfo does the daylight-saving arithmetic: a business day is
23, 24 or 25 hours long, and its hours are real elapsed hours, each named by the local
clock time it starts at (the 25-hour day has two hours that start at 01:00).

One definition of a business day, used both ways: day D starts at the first instant the
café's wall clock reads D at `day_start` or later. A start inside a skipped hour (London
01:30 on the spring night) is the jump itself; a start inside a repeated hour is its first
pass. `business_day(t)` is the day whose [start, next start) holds t, so the two never
disagree, whatever the zone (Lord Howe's half-hour shifts, Samoa's skipped day).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cafe_monitor.errors import UserError

UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)


class TimeZoneError(UserError, ValueError):
    """An unknown time zone name or a malformed business-day start."""


def system_zone_name() -> str:
    """The computer's IANA zone name (TZ, then /etc/localtime, then /etc/timezone), else 'UTC'.

    `datetime.now().astimezone()` only gives an offset ("CET"), which cannot say when
    daylight saving starts, so the name is read from where the system keeps it."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    target = os.path.realpath("/etc/localtime")
    if "zoneinfo/" in target:
        candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if name and _valid(name):
            return "UTC" if name in ("Etc/UTC", "Etc/UCT", "UCT", "Universal", "Zulu") else name
    return "UTC"


def _valid(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone(name: str) -> ZoneInfo:
    """A ZoneInfo for `name` ("" = the computer's zone); unknown names are an error that names them."""
    key = name or system_zone_name()
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(f"unknown time zone {key!r} (use an IANA name such as 'Europe/London')") from exc


def parse_day_start(text: str) -> dt.time:
    """'HH:MM' between 00:00 and 12:00 (a business day is named by the date it starts on)."""
    try:
        t = dt.time.fromisoformat(text)
    except ValueError as exc:
        raise TimeZoneError(f"business day start must be HH:MM, got {text!r}") from exc
    if t.second or t.microsecond or t > dt.time(12, 0):
        raise TimeZoneError(f"business day start must be a whole minute between 00:00 and 12:00, got {text!r}")
    return t


@dataclass(frozen=True)
class HourSlot:
    """One real hour of a business day: [start, end) in UTC, named by its local start."""

    start: dt.datetime  # UTC
    end: dt.datetime  # UTC
    local: dt.datetime  # start in the café's zone

    @property
    def label(self) -> str:
        return f"{self.local:%H}"


@dataclass(frozen=True)
class CafeClock:
    """A site's zone and business-day start; pure arithmetic, no I/O."""

    tz: ZoneInfo
    day_start: dt.time = dt.time(4, 0)

    @classmethod
    def of(cls, time_zone: str = "", business_day_start: str = "04:00") -> CafeClock:
        return cls(zone(time_zone), parse_day_start(business_day_start))

    @property
    def name(self) -> str:
        """The zone's IANA name, as charts and reports print it."""
        return self.tz.key

    def local(self, instant: dt.datetime) -> dt.datetime:
        """A stored instant (UTC; naive means UTC, as SQLite returns it) in the café's zone."""
        return as_utc(instant).astimezone(self.tz)

    def business_day(self, instant: dt.datetime) -> dt.date:
        """The business day an instant belongs to: the one whose `day_range` holds it
        (before `day_start` on the local clock it is, as a rule, still yesterday)."""
        t = as_utc(instant)
        local = t.astimezone(self.tz)
        day = local.date() - dt.timedelta(days=1) if local.time() < self.day_start else local.date()
        while t < self._start(day):  # a changeover night: the wall clock's guess is a day off
            day -= dt.timedelta(days=1)
        while t >= self._start(day + dt.timedelta(days=1)):
            day += dt.timedelta(days=1)
        return day

    def day_range(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of a business day in UTC, for WHERE clauses on stored times."""
        return self._start(day), self._start(day + dt.timedelta(days=1))

    def days_range(self, first: dt.date, days: int) -> list[tuple[dt.datetime, dt.datetime]]:
        """Consecutive business days' [start, end) in UTC."""
        return [self.day_range(first + dt.timedelta(days=i)) for i in range(days)]

    def hours(self, day: dt.date) -> list[HourSlot]:
        """The real hours of a business day: 24, or 23/25 on daylight-saving days."""
        start, end = self.day_range(day)
        n = math.ceil((end - start) / HOUR)  # a 23.5-hour day (Lord Howe) ends on a half hour
        return [HourSlot(start + i * HOUR, min(start + (i + 1) * HOUR, end), (start + i * HOUR).astimezone(self.tz))
                for i in range(n)]

    def hour_index(self, instant: dt.datetime, day: dt.date) -> int | None:
        """Which of `hours(day)` an instant falls in (None outside the day)."""
        start, end = self.day_range(day)
        t = as_utc(instant)
        return int((t - start) // HOUR) if start <= t < end else None

    def _start(self, day: dt.date) -> dt.datetime:
        return day_start_instant(self.tz, day, self.day_start)


@functools.lru_cache(maxsize=4096)
def day_start_instant(tz: ZoneInfo, day: dt.date, start: dt.time) -> dt.datetime:
    """The first instant (UTC) the wall clock in `tz` reads `day` at `start` or later.

    An ordinary or repeated time: its first pass (fold=0). A skipped time (the clocks
    jump over it): the jump, found by bisecting between the two offsets' readings, as
    no library call names the instant a gap begins."""
    wall = dt.datetime.combine(day, start)
    first = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the offset before a change
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # the offset after: earlier than the jump
    lo, hi = min(lo, first), max(lo, first)
    while hi - lo > dt.timedelta(seconds=1):  # wall(lo) < wall <= wall(hi)
        mid = lo + (hi - lo) // 2
        if mid.astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.replace(microsecond=0).astimezone(tz).replace(tzinfo=None) >= wall else hi


def as_utc(t: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite hands them back naive, PostgreSQL aware."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


UTC_CLOCK = CafeClock(ZoneInfo("UTC"), dt.time(0, 0))
