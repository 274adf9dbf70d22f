"""The read side: plain dataclasses, site/camera filters, local business days and hours
(daylight-saving days, a night past midnight), and a fixed number of queries per view
(no query per session), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from sqlalchemy import event

from cafe_monitor import history, storage
from cafe_monitor.domain import CLASSES
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig, score_visits
from cafe_monitor.storage import queries
from cafe_monitor.storage.queries import Counter

UTC = dt.timezone.utc
CFG = ScoreConfig()
LONDON = CafeClock.of("Europe/London", "04:00")


def one_hot(name: str) -> list[float]:
    return [1.0 if c == name else 0.0 for c in CLASSES]


def add_session(engine: storage.Engine, start: dt.datetime, visits: list[tuple[dt.datetime, str]], *,
                site: str = "main", camera: str = "counter", zone: str = "") -> int:
    """A session with one visit (and one timeline second) per (time, emotion); `zone`: the
    site's time zone as a counter records it in the session's settings."""
    settings = {"storage": {"time_zone": zone, "business_day_start": "04:00"}} if zone else {}
    with storage.session_scope(engine) as s:
        row = storage.SessionRow(started_at=start, ended_at=start + dt.timedelta(hours=1), status="ended",
                                 source="0", site=site, camera=camera, model_name="m", model_sha256="0" * 64,
                                 provider="CPU", settings=settings, frames=10)
        s.add(row)
        s.flush()
        for i, (t, emotion) in enumerate(visits):
            p = {f"p_{c}": x for c, x in zip(CLASSES, one_hot(emotion), strict=True)}
            s.add(storage.VisitRow(session_id=row.id, visit_no=i + 1, first_seen=t,
                                   last_seen=t + dt.timedelta(seconds=30), frames=20, **p))
            s.add(storage.TimelineRow(session_id=row.id, at=t, frames=25, faces=1, **p))
        s.commit()
        return row.id


@pytest.fixture
def engine(any_db_url: str) -> storage.Engine:
    return storage.open_database(any_db_url)


def utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=UTC)


def test_readers_return_plain_dataclasses_filtered_by_site_and_camera(engine: storage.Engine) -> None:
    a = add_session(engine, utc(2026, 6, 1, 8), [(utc(2026, 6, 1, 9), "happy")], site="soho", camera="till")
    b = add_session(engine, utc(2026, 6, 1, 8), [(utc(2026, 6, 1, 9, 5), "sad")], site="soho", camera="window")
    c = add_session(engine, utc(2026, 6, 1, 8), [(utc(2026, 6, 1, 9, 10), "angry")], site="leeds", camera="till")
    start, end = utc(2026, 6, 1), utc(2026, 6, 2)
    everything = queries.visits_started(engine, start, end)
    assert [v.session_id for v in everything] == [a, b, c]
    assert all(dataclasses.is_dataclass(v) and not isinstance(v, storage.Base) for v in everything)
    assert everything[0].first_seen == utc(2026, 6, 1, 9)  # aware UTC on both databases
    assert [v.session_id for v in queries.visits_started(engine, start, end, Counter(site="soho"))] == [a, b]
    assert [v.session_id for v in queries.visits_started(engine, start, end, Counter(camera="till"))] == [a, c]
    assert [s.id for s in queries.sessions_started(engine, start, end, Counter("soho", "window"))] == [b]
    assert [p.at for p in queries.timeline_in(engine, start, end, Counter(site="leeds"))] == [utc(2026, 6, 1, 9, 10)]
    assert queries.sites(engine) == ["leeds", "soho"] and queries.cameras(engine, "soho") == ["till", "window"]
    assert queries.find_session(engine, "last", Counter(site="leeds")).id == c  # type: ignore[union-attr]
    assert queries.find_session(engine, a, Counter(site="leeds")) is None  # another site's session is not found
    assert [s.id for s in queries.recent_sessions(engine, 10, Counter(camera="window"))] == [b]


def test_a_bar_night_is_one_business_day_and_one_report(engine: storage.Engine) -> None:
    paris = CafeClock.of("Europe/Paris", "04:00")
    # Friday 12 June: 21:00, 23:30, then 01:30 and 03:50 on Saturday (Paris, UTC+2); 04:10 is Saturday's
    times = [utc(2026, 6, 12, 19), utc(2026, 6, 12, 21, 30), utc(2026, 6, 12, 23, 30), utc(2026, 6, 13, 1, 50),
             utc(2026, 6, 13, 2, 10)]
    add_session(engine, utc(2026, 6, 12, 18), [(t, "happy") for t in times])
    friday = history.day_visits(engine, dt.date(2026, 6, 12), paris)
    assert len(friday) == 4
    hours = history.by_hour(friday, dt.date(2026, 6, 12), paris, CFG)
    busy = {b.label: b.score.visits for b in hours if b.score.visits}
    assert busy == {"21": 1, "23": 1, "01": 1, "03": 1}
    assert len(history.day_visits(engine, dt.date(2026, 6, 13), paris)) == 1


def test_dst_days_have_23_and_25_hour_buckets_and_daily_means(engine: storage.Engine) -> None:
    # London 25 October 2026: 01:00-02:00 happens twice (BST, then GMT)
    add_session(engine, utc(2026, 10, 24, 20), [(utc(2026, 10, 25, 0, 30), "happy"),  # 01:30 BST
                                                 (utc(2026, 10, 25, 1, 30), "sad")])  # 01:30 GMT
    hours = history.by_hour(history.day_visits(engine, dt.date(2026, 10, 24), LONDON), dt.date(2026, 10, 24),
                            LONDON, CFG)
    assert len(hours) == 25
    ones = [b for b in hours if b.label == "01"]
    assert [b.score.score for b in ones] == [100.0, 10.0]  # the two 01:00 hours are told apart
    assert len(history.by_hour([], dt.date(2026, 3, 28), LONDON, CFG)) == 23
    # daily means, averaged in SQL, on the business days around the change
    trend = history.by_day(engine, dt.date(2026, 10, 26), 4, LONDON, CFG)
    assert [d.day for d in trend] == [dt.date(2026, 10, 23) + dt.timedelta(days=i) for i in range(4)]
    assert [d.visits for d in trend] == [0, 2, 0, 0] and trend[1].score == pytest.approx(55.0)
    assert trend[0].score is None


def test_utc_midnight_does_not_split_a_sydney_day(engine: storage.Engine) -> None:
    sydney = CafeClock.of("Australia/Sydney", "04:00")
    # 30 Nov 2026 in Sydney (UTC+11): 09:00, 12:15 and 16:00 local -> two UTC dates
    add_session(engine, utc(2026, 11, 29, 21), [(utc(2026, 11, 29, 22), "happy"), (utc(2026, 11, 30, 1, 15), "happy"),
                                                 (utc(2026, 11, 30, 5), "neutral")])
    view = history.load_day(engine, dt.date(2026, 11, 30), sydney, CFG)
    assert view.total.visits == 3 and view.zone == "Australia/Sydney"
    assert {b.label for b in view.hours if b.score.visits} == {"09", "12", "16"}
    assert len(view.sessions) == 1 and view.sessions[0][1].visits == 3


def test_history_view_costs_a_fixed_number_of_queries(engine: storage.Engine) -> None:
    day = dt.date(2026, 6, 1)
    start = utc(2026, 6, 1, 7)
    for k in range(12):  # 12 sessions of 5 visits each, two sites
        add_session(engine, start + dt.timedelta(minutes=k), [(start + dt.timedelta(minutes=k, seconds=i), "happy")
                                                              for i in range(5)], site=("a", "b")[k % 2])
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    view = history.load_day(engine, day, LONDON, CFG, compare_day=day - dt.timedelta(days=7))
    assert len(view.sessions) == 12 and all(s.visits == 5 for _, s in view.sessions)
    assert len(statements) <= 6, statements  # zones, day visits, compare visits, sessions, their visits, trend
    statements.clear()
    only_a = history.load_day(engine, day, LONDON, CFG, Counter(site="a"))
    event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 5 and len(only_a.sessions) == 6 and only_a.total.visits == 30


def test_session_scores_are_the_readme_formula(engine: storage.Engine) -> None:
    rng = np.random.default_rng(3)
    emotions = list(rng.choice(CLASSES, size=40))
    sid = add_session(engine, utc(2026, 6, 2, 8), [(utc(2026, 6, 2, 8, i), e) for i, e in enumerate(emotions)])
    day = queries.sessions_started(engine, utc(2026, 6, 2), utc(2026, 6, 3))
    [(info, score)] = history.scored_sessions(engine, day, CFG)
    assert info.id == sid and info.seconds == 3600
    assert score == score_visits([one_hot(e) for e in emotions], CFG)


def test_timeline_is_summed_by_the_minute_in_the_database(engine: storage.Engine) -> None:
    sid = add_session(engine, utc(2026, 6, 3, 8), [])
    with storage.session_scope(engine) as s:
        for k, (faces, emotion) in enumerate([(1, "happy"), (3, "sad"), (0, "neutral"), (2, "happy")]):
            p = {f"p_{c}": x * (faces > 0) for c, x in zip(CLASSES, one_hot(emotion), strict=True)}
            s.add(storage.TimelineRow(session_id=sid, at=utc(2026, 6, 3, 9, 0, 58) + dt.timedelta(seconds=k),
                                      frames=25, faces=faces, **p))
        s.commit()
    minutes = queries.timeline_minutes(engine, utc(2026, 6, 3), utc(2026, 6, 4), Counter(site="main"))
    assert [m.at for m in minutes] == [utc(2026, 6, 3, 9, 0), utc(2026, 6, 3, 9, 1)]
    assert [(m.frames, m.faces) for m in minutes] == [(50, 4), (50, 2)]
    happy, sad = CLASSES.index("happy"), CLASSES.index("sad")
    assert minutes[0].distribution[happy] == pytest.approx(0.25) and minutes[0].distribution[sad] == pytest.approx(0.75)
    assert minutes[1].distribution[happy] == pytest.approx(1.0)  # the faceless second weighs nothing
    assert queries.timeline_minutes(engine, utc(2026, 6, 3), utc(2026, 6, 4), Counter(site="elsewhere")) == []
    assert queries._minutes_in_python(queries.timeline_of(engine, sid)) == minutes


def test_each_site_is_read_in_its_own_recorded_zone(engine: storage.Engine) -> None:
    """A head office (its own settings: UTC) reads a Los Angeles shop's day in Los Angeles
    time and a London shop's in London time; all sites together, in its own zone."""
    utc_clock = CafeClock.of("UTC", "04:00")
    add_session(engine, utc(2026, 7, 1, 15), [(utc(2026, 7, 1, 19, 30), "happy")],  # 12:30 in LA
                site="venice", zone="America/Los_Angeles")
    add_session(engine, utc(2026, 7, 1, 7), [(utc(2026, 7, 1, 11, 30), "sad")],  # 12:30 in London
                site="soho", zone="Europe/London")
    assert queries.recorded_zones(engine) == {"venice": ("America/Los_Angeles", "04:00"),
                                              "soho": ("Europe/London", "04:00")}
    venice = history.load_day(engine, dt.date(2026, 7, 1), utc_clock, CFG, Counter(site="venice"))
    soho = history.load_day(engine, dt.date(2026, 7, 1), utc_clock, CFG, Counter(site="soho"))
    assert venice.zone == "America/Los_Angeles" and soho.zone == "Europe/London"
    assert [b.label for b in venice.hours if b.score.visits] == ["12"]  # lunch, not 19:00
    assert [b.label for b in soho.hours if b.score.visits] == ["12"]
    both = history.load_day(engine, dt.date(2026, 7, 1), utc_clock, CFG)
    assert both.zone == "UTC" and both.total.visits == 2  # zones differ: the reader's own
    assert history.clock_for(engine, Counter(site="leeds"), utc_clock) is utc_clock  # nothing recorded
