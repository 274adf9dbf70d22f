"""Today at a glance, on stored data across days: today's score so far over every
session and camera of the site (the running session's stored visits included), and the
usual score for this hour (same business weekday and local hour, last four weeks, with
n), in the café's zone: nights past midnight, clocks going back and forward. On SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from sqlalchemy import event, text

from cafe_monitor import history, storage
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage import queries
from cafe_monitor.storage.queries import Counter
from cafe_monitor.today import current_hour, hour_label, load_glance, same_hour_before
from cafe_monitor.tracking import Visit
from tests.test_queries import add_session, utc

CFG = ScoreConfig()
LONDON = CafeClock.of("Europe/London", "04:00")


@pytest.fixture
def engine(any_db_url: str) -> storage.Engine:
    return storage.open_database(any_db_url)


def recorded(engine: storage.Engine) -> list[tuple[str, object]]:
    """Every statement the engine runs from now on, with its parameters as the driver gets them."""
    seen: list[tuple[str, object]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, params, *_: seen.append((sql, params)))
    return seen


def test_today_and_the_usual_monday_afternoon_across_sessions_cameras_and_sites(engine: storage.Engine) -> None:
    now = utc(2026, 6, 15, 13, 20)  # Monday 15 June, 14:20 in London (BST)
    # today: two cameras of the site, morning and just now; another site's visit does not count
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 8), "happy"), (utc(2026, 6, 15, 9), "sad")],
                camera="till")
    add_session(engine, utc(2026, 6, 15, 12), [(utc(2026, 6, 15, 13, 5), "happy"), (utc(2026, 6, 15, 13, 10),
                                                                                      "neutral")], camera="seating")
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 13, 1), "angry")], site="leeds")
    # the usual: 14:00-15:00 on the four Mondays before (8, 1 June, 25, 18 May); 25 May has no visits
    add_session(engine, utc(2026, 6, 8, 12), [(utc(2026, 6, 8, 13, 0), "happy"), (utc(2026, 6, 8, 13, 59), "happy")])
    add_session(engine, utc(2026, 6, 1, 12), [(utc(2026, 6, 1, 13, 30), "sad")], camera="seating")
    add_session(engine, utc(2026, 5, 18, 12), [(utc(2026, 5, 18, 13, 45), "neutral")])
    # not the usual: 15:00 and 13:59 local that Monday, a Tuesday at 14:00, five weeks back, another site
    add_session(engine, utc(2026, 6, 8, 14), [(utc(2026, 6, 8, 14, 0), "angry"), (utc(2026, 6, 8, 12, 59), "angry"),
                                              (utc(2026, 6, 9, 13, 30), "angry"), (utc(2026, 5, 11, 13, 30), "angry")])
    add_session(engine, utc(2026, 6, 8, 12), [(utc(2026, 6, 8, 13, 30), "angry")], site="leeds")

    g = load_glance(engine, now, LONDON, CFG, Counter(site="main"))
    assert g.day == dt.date(2026, 6, 15) and g.hour == "Mon 14:00–15:00" and g.zone == "Europe/London"
    assert (g.today.visits, g.today.score) == (4, pytest.approx(65.0))  # (1 - 0.8 + 1 + 0) / 4 = 0.3 -> 65
    assert (g.usual.visits, g.usual.days) == (4, 3)
    assert g.usual.score == pytest.approx(50 * (1 + (1 + 1 - 0.8 + 0) / 4))  # 65.0, every visit once
    # the figure History shows for the day is the same number
    day = history.load_day(engine, g.day, LONDON, CFG, Counter(site="main"))
    assert day.total.visits == g.today.visits and day.total.score == pytest.approx(g.today.score)
    # every site together: leeds' visits join both figures
    both = load_glance(engine, now, LONDON, CFG)
    assert (both.today.visits, both.usual.visits, both.usual.days) == (5, 5, 3)


def test_a_bar_night_and_the_night_clocks_go_back(engine: storage.Engine) -> None:
    """01:30 on Sunday 15 November is still Saturday's business day: the usual is 01:00-02:00
    after the last four Saturdays, and on 24 October's (clocks back at 02:00 BST on the 25th)
    both real hours that the clock read 01:xx count, as one day."""
    now = utc(2026, 11, 15, 1, 30)  # 01:30 GMT
    assert hour_label(*current_hour(LONDON, now)) == "Sat 01:00–02:00"
    add_session(engine, utc(2026, 11, 14, 9), [(utc(2026, 11, 14, 10), "neutral"), (utc(2026, 11, 15, 1, 10), "happy"),
                                               (utc(2026, 11, 14, 3, 50), "angry")])  # 03:50 Sat: Friday's night
    add_session(engine, utc(2026, 10, 24, 22), [(utc(2026, 10, 25, 0, 30), "happy"),  # 01:30 BST
                                                (utc(2026, 10, 25, 1, 30), "sad"),  # 01:30 GMT, an hour later
                                                (utc(2026, 10, 18, 1, 30), "angry"),  # 02:30 BST: the next hour
                                                (utc(2026, 10, 11, 0, 30), "angry"),  # five weeks back
                                                (utc(2026, 11, 7, 1, 30), "angry")])  # Sat 01:30: Friday's night
    add_session(engine, utc(2026, 11, 8, 0), [(utc(2026, 11, 8, 1, 10), "happy"), (utc(2026, 11, 8, 1, 50), "happy")])
    g = load_glance(engine, now, LONDON, CFG)
    assert g.day == dt.date(2026, 11, 14)
    assert (g.today.visits, g.today.score) == (2, pytest.approx(75.0))
    assert (g.usual.visits, g.usual.days) == (4, 2)
    assert g.usual.score == pytest.approx(50 * (1 + (1 - 0.8 + 1 + 1) / 4))
    day, slot = current_hour(LONDON, now)
    past = same_hour_before(LONDON, day, slot)
    assert [d for d, _s in past] == [dt.date(2026, 10, 17), dt.date(2026, 10, 24), dt.date(2026, 10, 24),
                                     dt.date(2026, 10, 31), dt.date(2026, 11, 7)]
    assert [s.start for d, s in past if d == dt.date(2026, 10, 24)] == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)]


def test_the_hour_skipped_when_clocks_go_forward_is_a_day_without_data(engine: storage.Engine) -> None:
    now = utc(2026, 4, 5, 0, 30)  # Sunday 5 April, 01:30 BST: Saturday 4 April's business day
    day, slot = current_hour(LONDON, now)
    past = same_hour_before(LONDON, day, slot)
    # 29 March (Saturday 28's night) has no 01:00-02:00: clocks went from 01:00 GMT to 02:00 BST
    assert [d for d, _s in past] == [dt.date(2026, 3, 7), dt.date(2026, 3, 14), dt.date(2026, 3, 21)]
    add_session(engine, utc(2026, 3, 21, 20), [(utc(2026, 3, 22, 1, 15), "happy"),  # 01:15 GMT, counts
                                               (utc(2026, 3, 29, 0, 30), "angry"),  # 00:30 GMT on the 29th
                                               (utc(2026, 3, 29, 1, 30), "angry")])  # 02:30 BST
    g = load_glance(engine, now, LONDON, CFG)
    assert (g.usual.visits, g.usual.days, g.usual.score) == (1, 1, 100.0)
    assert (g.today.visits, g.today.score) == (0, None)


def test_a_business_day_starting_at_0400_and_a_site_in_its_own_zone(engine: storage.Engine) -> None:
    """A Sydney café's figures read on a UTC machine: its own recorded zone decides the
    day and hour (04:00 local starts the day: 03:59 is yesterday's). Stored in UTC."""
    sydney = CafeClock.of("Australia/Sydney", "04:00")

    def syd(*a: int) -> dt.datetime:  # Sydney wall clock, as the UTC the database stores
        return dt.datetime(*a, tzinfo=sydney.tz).astimezone(dt.timezone.utc)

    now = syd(2026, 7, 6, 4, 30)  # Monday 04:30 AEST
    add_session(engine, syd(2026, 7, 5, 20), [(syd(2026, 7, 6, 3, 59), "angry"),  # Sunday's business day
                                              (syd(2026, 7, 6, 4, 0), "happy"),
                                              (syd(2026, 6, 29, 4, 10), "sad"),  # last Monday 04:10: the usual
                                              (syd(2026, 6, 29, 3, 10), "happy")],  # Sunday night's
                site="bondi", zone="Australia/Sydney")
    g = load_glance(engine, now, CafeClock.of("UTC", "00:00"), CFG, Counter(site="bondi"))
    assert g.zone == "Australia/Sydney" and g.hour == "Mon 04:00–05:00"
    assert (g.today.visits, g.today.score) == (1, 100.0)
    assert (g.usual.visits, g.usual.days, g.usual.score) == (1, 1, pytest.approx(10.0))


def test_the_running_sessions_stored_visits_count_today(engine: storage.Engine) -> None:
    """A session still recording: its writer has stored two open visits (checkpoints)."""
    now = dt.datetime.now(dt.timezone.utc)
    clock = CafeClock.of("UTC", "00:00")
    start = max(now - dt.timedelta(minutes=5), dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.timezone.utc))
    sid = storage.start_session(engine, source="0", site="main", camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={}, started_at=start)
    w = storage.SessionWriter(engine, sid, origin=start.timestamp(), flush_seconds=0.05)
    w.start()
    happy, neutral = np.zeros(7, np.float32), np.zeros(7, np.float32)
    happy[3], neutral[6] = 1.0, 1.0
    w.checkpoint([Visit(1, 0.0, 1.0, 10, happy, 20.0), Visit(2, 0.5, 1.0, 10, neutral, 20.0)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(queries.visits_of(engine, [sid])) < 2:
            time.sleep(0.05)
        assert queries.find_session(engine, sid).status == "running"  # type: ignore[union-attr]
        g = load_glance(engine, now, clock, CFG)
        assert (g.today.visits, g.today.score) == (2, 75.0)
    finally:
        w.close("ended")


def test_two_queries_whatever_the_history_and_the_time_index_is_used(engine: storage.Engine) -> None:
    now = utc(2026, 6, 15, 13, 20)
    for week in range(8):
        monday = utc(2026, 6, 15, 8) - dt.timedelta(days=7 * week)
        add_session(engine, monday, [(monday + dt.timedelta(minutes=7 * i), "happy") for i in range(60)])
    statements = recorded(engine)
    g = load_glance(engine, now, LONDON, CFG)
    assert len(statements) == 2, statements  # the sites' zones, then one grouped read
    # 08:00-14:53 UTC each Monday: today all 60; 13:00-14:00 UTC (14:00 BST) has 9 a week
    assert g.today.visits == 60 and (g.usual.days, g.usual.visits) == (4, 4 * 9)
    if engine.dialect.name == "sqlite":  # the read is driven by the first_seen index, not a scan
        sql, params = statements[1]
        with engine.connect() as c:
            plan = " ".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))  # type: ignore[arg-type]
        assert "ix_visits_first_seen" in plan and "SCAN visits" not in plan, plan


def test_periods_with_gaps_count_only_their_own_visits(engine: storage.Engine) -> None:
    add_session(engine, utc(2026, 6, 1, 8), [(utc(2026, 6, 1, 9, 30), "happy"), (utc(2026, 6, 1, 10, 30), "sad"),
                                             (utc(2026, 6, 1, 11, 30), "neutral"), (utc(2026, 6, 1, 12, 30), "sad")])
    hours = [(utc(2026, 6, 1, h), utc(2026, 6, 1, h + 1)) for h in (9, 11, 12)]  # 10:00-11:00 left out
    means = queries.period_means(engine, hours)
    assert [m.visits for m in means] == [1, 1, 1]
    with pytest.raises(ValueError, match="time order"):
        queries.period_means(engine, [hours[1], hours[0]])
    with engine.connect() as c:  # no visit was read twice or lost to the gap
        assert c.execute(text("SELECT count(*) FROM visits")).scalar() == 4
