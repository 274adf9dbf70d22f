"""One business day, agreeing with itself in every IANA zone (issue 23, point 7): when the
day start falls inside a daylight-saving changeover (London 01:30, Berlin/New York/Sydney
02:30, Lord Howe's half-hour shift, Chatham 03:00), `business_day(t)` must name the day
whose `day_range` holds t, the ranges must tile time, and the Today panel must find its hour."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import zoneinfo
from typing import ClassVar

import pytest

from cafe_monitor.localtime import CafeClock
from cafe_monitor.today import current_hour

UTC = dt.timezone.utc
STARTS = ("00:00", "01:30", "02:30", "03:00", "05:00")
TINY = dt.timedelta(microseconds=1)


def transitions(tz: zoneinfo.ZoneInfo, first: int = 2024, last: int = 2026) -> list[dt.datetime]:
    """The instants (UTC, to the second) the zone's offset changes in those years, found by
    stepping the offset a day at a time and bisecting the day it changed in."""
    def offset(t: dt.datetime) -> dt.timedelta | None:
        return t.astimezone(tz).utcoffset()

    out = []
    t, end = dt.datetime(first, 1, 1, tzinfo=UTC), dt.datetime(last + 1, 1, 1, tzinfo=UTC)
    while t < end:
        nxt = t + dt.timedelta(days=1)
        if offset(t) != offset(nxt):
            lo, hi = t, nxt  # offset(lo) is the old one, offset(hi) the new
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if offset(mid) == offset(lo) else (lo, mid)
            out.append(hi.replace(microsecond=0) if offset(hi.replace(microsecond=0)) != offset(lo) else hi)
        t = nxt
    return out


@functools.cache
def all_transitions() -> dict[str, list[dt.datetime]]:
    return {name: ts for name in sorted(zoneinfo.available_timezones())
            if (ts := transitions(zoneinfo.ZoneInfo(name)))}


class CountingClock(CafeClock):
    """Counts the day starts `business_day` works out: its cost, without a stopwatch."""

    asked: ClassVar[list[int]] = [0]

    def _start(self, day: dt.date) -> dt.datetime:
        self.asked[0] += 1
        return super()._start(day)


#: day starts one `business_day` may work out: one each way to check the wall clock's guess,
#: plus one correction (a changeover night puts the guess at most a day off)
MOST_STARTS_ASKED = 3


def check_days_around(clock: CafeClock, instant: dt.datetime) -> None:
    """The business days around `instant` tile time and every probe of each lies in it."""
    day = clock.local(instant).date()
    days = [day + dt.timedelta(days=k) for k in range(-2, 3)]
    ranges = [clock.day_range(d) for d in days]
    for (d, (start, end)), (_, (next_start, _)) in itertools.pairwise(zip(days, ranges, strict=True)):
        assert start < end == next_start, (clock.name, clock.day_start, d, start, end, next_start)
    for d, (start, end) in zip(days, ranges, strict=True):
        probes = {start, start + TINY, end - TINY, instant - dt.timedelta(seconds=1), instant,
                  instant + dt.timedelta(seconds=1)}
        probes |= {start + k * dt.timedelta(minutes=30) for k in range(52)}
        for t in probes:
            if start <= t < end:
                CountingClock.asked[0] = 0
                assert clock.business_day(t) == d, (clock.name, clock.day_start, t, d, clock.business_day(t))
                assert CountingClock.asked[0] <= MOST_STARTS_ASKED, (clock.name, clock.day_start, t)
                assert clock.hour_index(t, d) is not None


@pytest.mark.parametrize("start", STARTS)
def test_business_day_agrees_with_day_range_in_every_zone(start: str) -> None:
    """Every zone's changeovers of 2024-2026; `business_day` never searches more than a day."""
    zones = all_transitions()
    assert len(zones) > 50  # the sweep reached the daylight-saving zones
    for name, instants in zones.items():
        clock = CountingClock.of(name, start)
        for t in instants:
            check_days_around(clock, t)


@pytest.mark.parametrize(("zone", "start", "instant"), [
    ("Europe/London", "01:30", dt.datetime(2026, 3, 29, 1, 10, tzinfo=UTC)),  # 02:10 BST, after the jump
    ("Europe/London", "01:30", dt.datetime(2026, 10, 25, 1, 10, tzinfo=UTC)),  # 01:10 GMT, the second pass
    ("Europe/Berlin", "02:30", dt.datetime(2026, 3, 29, 1, 10, tzinfo=UTC)),
    ("America/New_York", "02:30", dt.datetime(2026, 3, 8, 7, 10, tzinfo=UTC)),
    ("Australia/Sydney", "02:30", dt.datetime(2026, 4, 4, 16, 10, tzinfo=UTC)),
    ("Australia/Lord_Howe", "01:45", dt.datetime(2026, 4, 4, 14, 50, tzinfo=UTC)),
    ("Pacific/Chatham", "03:00", dt.datetime(2026, 4, 4, 14, 0, tzinfo=UTC)),
])
def test_changeover_instants_belong_to_the_day_that_holds_them(zone: str, start: str, instant: dt.datetime) -> None:
    clock = CafeClock.of(zone, start)
    check_days_around(clock, instant)
    for minutes in range(-120, 121, 5):  # the Today panel through the changeover night
        _day, slot = current_hour(clock, instant + dt.timedelta(minutes=minutes))
        assert slot.start <= instant + dt.timedelta(minutes=minutes) < slot.end


def test_every_hour_slot_of_a_short_or_long_day_is_inside_it() -> None:
    """Lord Howe moves its clocks by half an hour: its changeover days are 23.5 and 24.5 hours."""
    clock = CafeClock.of("Australia/Lord_Howe", "04:00")
    for day in (dt.date(2026, 4, 4), dt.date(2026, 10, 3)):
        start, end = clock.day_range(day)
        hours = clock.hours(day)
        assert hours[0].start == start and hours[-1].end == end
        assert all(a.end == b.start for a, b in itertools.pairwise(hours))
        _, slot = current_hour(clock, end - TINY)
        assert slot == hours[-1]
