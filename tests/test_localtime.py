"""The café's clock: business days and local hours, across daylight-saving changes and
past midnight."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from cafe_monitor.localtime import CafeClock, TimeZoneError, parse_day_start, system_zone_name

UTC = dt.timezone.utc


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_london_spring_forward_day_has_23_hours() -> None:
    clock = CafeClock.of("Europe/London", "04:00")
    start, end = clock.day_range(dt.date(2026, 3, 29))  # clocks go 01:00 GMT -> 02:00 BST
    assert start == utc(2026, 3, 29, 3)  # 04:00 BST
    assert end == utc(2026, 3, 30, 3)
    hours = clock.hours(dt.date(2026, 3, 28))  # 04:00 GMT Saturday to 04:00 BST Sunday
    assert len(hours) == 23
    labels = [h.label for h in hours]
    assert labels[:2] == ["04", "05"] and "01" not in labels and labels[-1] == "03"


def test_london_fall_back_day_has_25_hours_with_01_twice() -> None:
    clock = CafeClock.of("Europe/London", "04:00")
    hours = clock.hours(dt.date(2026, 10, 24))  # the night of 25 October repeats 01:00-02:00
    assert len(hours) == 25
    assert [h.label for h in hours].count("01") == 2
    assert hours[0].start == utc(2026, 10, 24, 3) and hours[-1].end == utc(2026, 10, 25, 4)
    assert all(b.start == a.end for a, b in itertools.pairwise(hours))


def test_los_angeles_dst_days_and_a_day_starting_at_midnight() -> None:
    clock = CafeClock.of("America/Los_Angeles", "00:00")
    assert len(clock.hours(dt.date(2026, 3, 8))) == 23
    assert len(clock.hours(dt.date(2026, 11, 1))) == 25
    assert len(clock.hours(dt.date(2026, 11, 2))) == 24
    # lunch at 12:30 in Los Angeles in winter is 20:30 UTC, the 13th hour of the day
    assert clock.hour_index(utc(2026, 12, 1, 20, 30), dt.date(2026, 12, 1)) == 12
    assert clock.hour_index(utc(2026, 12, 1, 20, 30), dt.date(2026, 12, 2)) is None


def test_a_bar_night_past_midnight_is_one_business_day() -> None:
    clock = CafeClock.of("Europe/Paris", "04:00")
    evening = utc(2026, 6, 12, 20)  # 22:00 Friday in Paris
    late = utc(2026, 6, 12, 23, 30)  # 01:30 Saturday in Paris
    closing = utc(2026, 6, 13, 1, 59)  # 03:59 Saturday in Paris
    morning = utc(2026, 6, 13, 2, 0)  # 04:00 Saturday: the next business day
    assert {clock.business_day(t) for t in (evening, late, closing)} == {dt.date(2026, 6, 12)}
    assert clock.business_day(morning) == dt.date(2026, 6, 13)
    start, end = clock.day_range(dt.date(2026, 6, 12))
    assert start <= late < end and not start <= morning < end
    assert clock.hours(dt.date(2026, 6, 12))[clock.hour_index(late, dt.date(2026, 6, 12)) or 0].label == "01"


def test_sydney_lunch_is_local_not_utc() -> None:
    clock = CafeClock.of("Australia/Sydney")
    noon = utc(2026, 11, 30, 1, 15)  # 12:15 AEDT (UTC+11)
    assert clock.business_day(noon) == dt.date(2026, 11, 30)
    assert clock.local(noon).hour == 12
    assert clock.local(noon.replace(tzinfo=None)).hour == 12  # SQLite gives naive UTC back


def test_days_are_contiguous_across_a_dst_change() -> None:
    clock = CafeClock.of("Europe/London", "04:00")
    days = clock.days_range(dt.date(2026, 3, 27), 5)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(days))
    assert [round((e - s).total_seconds() / 3600) for s, e in days] == [24, 23, 24, 24, 24]


def test_bad_zone_and_day_start_are_refused_with_their_value() -> None:
    with pytest.raises(TimeZoneError, match="Mars/Olympus"):
        CafeClock.of("Mars/Olympus")
    with pytest.raises(TimeZoneError, match="25:00"):
        parse_day_start("25:00")
    with pytest.raises(TimeZoneError, match="13:00"):
        parse_day_start("13:00")
    assert parse_day_start("06:30") == dt.time(6, 30)


def test_system_zone_from_tz_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert system_zone_name() == "Asia/Tokyo"
    assert CafeClock.of("").name == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert system_zone_name() != "Not/AZone"


def test_settings_carry_the_site_clock_and_refuse_bad_values() -> None:
    from cafe_monitor.config import ConfigError, parse

    s = parse({"storage": {"time_zone": "America/Los_Angeles", "business_day_start": "05:30"}})
    clock = s.storage.clock()
    assert clock.name == "America/Los_Angeles" and clock.day_start == dt.time(5, 30)
    with pytest.raises(ConfigError, match="storage.time_zone.*Mars/Olympus"):
        parse({"storage": {"time_zone": "Mars/Olympus"}})
    with pytest.raises(ConfigError, match="storage.business_day_start"):
        parse({"storage": {"business_day_start": "4 am"}})


def test_sessions_record_the_zone_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A counter left on "the computer's zone" records the zone's name with its sessions,
    so another machine of the chain can read that shop's hours."""
    from cafe_monitor.config import Settings, parse

    monkeypatch.setenv("TZ", "Europe/Madrid")
    assert Settings().with_named_zone().storage.time_zone == "Europe/Madrid"
    named = parse({"storage": {"time_zone": "Asia/Tokyo"}})
    assert named.with_named_zone() == named
