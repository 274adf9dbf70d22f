"""History's week and month views: the score, mix and visits of each local business day,
weekly scores, pooled over every visit (the figures the day view and reports give), in a
fixed number of queries. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from cafe_monitor import history, storage
from cafe_monitor.domain import CLASSES
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage.queries import Counter
from tests.test_queries import add_session, utc

CFG = ScoreConfig()
LONDON = CafeClock.of("Europe/London", "04:00")


@pytest.fixture
def engine(any_db_url: str) -> storage.Engine:
    return storage.open_database(any_db_url)


def test_span_days_are_monday_to_sunday_and_calendar_months() -> None:
    assert history.span_days(dt.date(2026, 7, 1), "week") == (dt.date(2026, 6, 29), dt.date(2026, 7, 5))
    assert history.span_days(dt.date(2026, 7, 5), "week") == (dt.date(2026, 6, 29), dt.date(2026, 7, 5))
    assert history.span_days(dt.date(2028, 2, 10), "month") == (dt.date(2028, 2, 1), dt.date(2028, 2, 29))
    assert history.span_days(dt.date(2026, 12, 31), "month") == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    with pytest.raises(ValueError, match="unknown span"):
        history.span_days(dt.date(2026, 1, 1), "year")


def test_week_view_scores_each_business_day_and_the_last_eight_weeks(engine: storage.Engine) -> None:
    # week of Monday 15 June 2026 (BST): Monday two visits, Wednesday one, Saturday night's 01:30 on Sunday
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 8), "happy"), (utc(2026, 6, 15, 9), "sad")])
    add_session(engine, utc(2026, 6, 17, 7), [(utc(2026, 6, 17, 12), "neutral")], camera="seating")
    add_session(engine, utc(2026, 6, 20, 20), [(utc(2026, 6, 21, 0, 30), "happy"),  # Sun 01:30 BST: Saturday's
                                               (utc(2026, 6, 22, 2, 0), "angry")])  # Mon 22 03:00: Sunday's
    add_session(engine, utc(2026, 4, 27, 7), [(utc(2026, 4, 27, 8), "angry")])  # 7 weeks before
    add_session(engine, utc(2026, 4, 20, 7), [(utc(2026, 4, 20, 8), "angry")])  # 8 weeks before: not shown
    add_session(engine, utc(2026, 6, 16, 7), [(utc(2026, 6, 16, 8), "angry")], site="leeds")

    view = history.load_period(engine, dt.date(2026, 6, 17), "week", LONDON, CFG, Counter(site="main"))
    assert (view.first, view.last, view.zone) == (dt.date(2026, 6, 15), dt.date(2026, 6, 21), "Europe/London")
    assert [d.day.strftime("%a") for d in view.days] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert [d.visits for d in view.days] == [2, 0, 1, 0, 0, 1, 1]
    assert [d.score for d in view.days] == [pytest.approx(55.0), None, 50.0, None, None, 100.0, 0.0]
    assert view.days[0].mix[CLASSES.index("happy")] == pytest.approx(0.5)
    assert (view.visits, view.days_with_visits) == (5, 4)
    assert view.score == pytest.approx(50 * (1 + (1 - 0.8 + 0 + 1 - 1) / 5))  # every visit once
    assert view.title == "Week of Mon 15 Jun – Sun 21 Jun 2026"
    # the weekly trend: the 8 weeks ending with this one, oldest first
    assert [w.first for w in view.weeks] == [dt.date(2026, 6, 15) - dt.timedelta(days=7 * k) for k in range(7, -1, -1)]
    assert [w.visits for w in view.weeks] == [1, 0, 0, 0, 0, 0, 0, 5]
    assert view.weeks[0].score == 0.0 and view.weeks[-1].score == view.score and view.weeks[0].label == "27 Apr"
    assert [s.camera for s, _score in view.sessions] == ["counter", "seating", "counter"]
    # each day's figure is the day view's
    for d in view.days:
        assert history.load_day(engine, d.day, LONDON, CFG, Counter(site="main")).total.score == (
            pytest.approx(d.score) if d.score is not None else None)


def test_month_view_days_and_weeks_across_the_clocks_going_back(engine: storage.Engine) -> None:
    """October 2026 in London: the 24th's business day is 25 hours long (clocks go back at
    02:00 BST on the 25th), and both 01:30s belong to it."""
    add_session(engine, utc(2026, 10, 1, 7), [(utc(2026, 10, 1, 9), "happy")])  # Thursday 1st
    add_session(engine, utc(2026, 10, 24, 20), [(utc(2026, 10, 25, 0, 30), "happy"),  # 01:30 BST
                                                (utc(2026, 10, 25, 1, 30), "sad"),  # 01:30 GMT
                                                (utc(2026, 10, 25, 3, 30), "neutral")])  # 03:30 GMT: still the 24th
    add_session(engine, utc(2026, 10, 31, 7), [(utc(2026, 10, 31, 12), "angry"),
                                               (utc(2026, 11, 1, 3, 59), "happy"),  # Halloween night: the 31st's
                                               (utc(2026, 11, 1, 4, 0), "happy")])  # 1 November's
    view = history.load_period(engine, dt.date(2026, 10, 13), "month", LONDON, CFG)
    assert view.title == "October 2026" and len(view.days) == 31
    busy = {d.day.day: (d.visits, d.score) for d in view.days if d.visits}
    assert busy == {1: (1, 100.0), 24: (3, 53.33), 31: (2, 50.0)}  # 24th: (1 - 0.8 + 0) / 3, to 2 places
    # weeks Monday to Sunday, cut at the month's ends: Thu 1-Sun 4, 5-11, 12-18, 19-25, 26-31
    assert [(w.first.day, w.last.day) for w in view.weeks] == [(1, 4), (5, 11), (12, 18), (19, 25), (26, 31)]
    assert [w.label for w in view.weeks] == ["01–04 Oct", "05–11 Oct", "12–18 Oct", "19–25 Oct", "26–31 Oct"]
    assert [w.visits for w in view.weeks] == [1, 0, 0, 3, 2]
    assert view.weeks[3].score == busy[24][1] and view.weeks[1].score is None
    assert view.visits == 6 and view.days_with_visits == 3


def test_a_month_costs_a_fixed_number_of_queries(engine: storage.Engine) -> None:
    for day in range(1, 31):
        start = utc(2026, 6, day, 8)
        add_session(engine, start, [(start + dt.timedelta(minutes=i), "happy") for i in range(3)],
                    camera=("till", "seating")[day % 2])
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])))
    month = history.load_period(engine, dt.date(2026, 6, 9), "month", LONDON, CFG)
    assert len(statements) <= 4, statements  # zones, the days' means, sessions, their visits
    assert len(month.sessions) == 30 and all(s.visits == 3 for _, s in month.sessions)
    assert [d.visits for d in month.days] == [3] * 30
    statements.clear()
    week = history.load_period(engine, dt.date(2026, 6, 9), "week", LONDON, CFG)
    assert len(statements) <= 5, statements  # ... and the eight weeks' means
    assert [d.visits for d in week.days] == [3] * 7 and week.weeks[-1].visits == 21
