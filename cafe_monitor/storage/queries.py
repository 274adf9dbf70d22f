"""Reading: sessions, visits, timeline.

The UI, the CLI and reports use the dataclass readers at the bottom (`Counter`,
`SessionInfo`, `VisitInfo`, `TimelinePoint`, `period_means`); the ORM-row readers above
them are kept for the storage tests and maintenance code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Engine

from cafe_monitor.domain import CLASSES
from cafe_monitor.localtime import as_utc
from cafe_monitor.storage.database import session_scope
from cafe_monitor.storage.schema import SessionRow, TimelineRow, VisitRow


def list_sessions(engine: Engine, limit: int = 50, site: str | None = None) -> list[SessionRow]:
    with session_scope(engine) as s:
        q = select(SessionRow).order_by(SessionRow.started_at.desc(), SessionRow.id.desc()).limit(limit)
        if site:
            q = q.where(SessionRow.site == site)
        return list(s.scalars(q).all())


def get_session(engine: Engine, ref: str | int) -> SessionRow | None:
    """A session by id, or 'last'."""
    with session_scope(engine) as s:
        if ref == "last":
            return s.scalars(select(SessionRow).order_by(SessionRow.started_at.desc(),
                                                         SessionRow.id.desc()).limit(1)).first()
        return s.get(SessionRow, int(ref))


def session_visits(engine: Engine, session_id: int) -> list[VisitRow]:
    with session_scope(engine) as s:
        return list(s.scalars(select(VisitRow).where(VisitRow.session_id == session_id)
                              .order_by(VisitRow.first_seen)).all())


def session_timeline(engine: Engine, session_id: int) -> list[TimelineRow]:
    with session_scope(engine) as s:
        return list(s.scalars(select(TimelineRow).where(TimelineRow.session_id == session_id)
                              .order_by(TimelineRow.at)).all())


def visits_between(engine: Engine, start: dt.datetime, end: dt.datetime,
                   site: str | None = None) -> list[VisitRow]:
    with session_scope(engine) as s:
        q = select(VisitRow).where(VisitRow.first_seen >= start, VisitRow.first_seen < end)
        if site:
            q = q.join(SessionRow).where(SessionRow.site == site)
        return list(s.scalars(q.order_by(VisitRow.first_seen)).all())


def timeline_between(engine: Engine, start: dt.datetime, end: dt.datetime,
                     site: str | None = None) -> list[TimelineRow]:
    with session_scope(engine) as s:
        q = select(TimelineRow).where(TimelineRow.at >= start, TimelineRow.at < end)
        if site:
            q = q.join(SessionRow, SessionRow.id == TimelineRow.session_id).where(SessionRow.site == site)
        return list(s.scalars(q.order_by(TimelineRow.at)).all())


def sessions_between(engine: Engine, start: dt.datetime, end: dt.datetime) -> list[SessionRow]:
    with session_scope(engine) as s:
        return list(s.scalars(select(SessionRow).where(SessionRow.started_at >= start, SessionRow.started_at < end)
                              .order_by(SessionRow.started_at)).all())


# --- the read side: plain dataclasses for the UI, CLI and reports -----------------
#
# Nothing below returns an ORM row: callers get frozen dataclasses with UTC-aware
# times, so no lazy load can fire on another thread or after the database session has
# closed. Every reader takes the same site/camera filter, and none loops a query per
# session: a day's sessions and all their visits are two queries, a month's daily
# figures one (the per-day averaging is done by the database).


@dataclass(frozen=True)
class Counter:
    """Which counters to read: a site, a camera, both or neither (= every counter)."""

    site: str | None = None
    camera: str | None = None

    def where(self, q: Any, *, join_from: Any = None) -> Any:
        """`q` (a select) narrowed to these counters; join_from: the column holding a session id."""
        if not self.site and not self.camera:
            return q
        if join_from is not None:
            # "+ 0" keeps the planner off the session_id index: driven by it, SQLite would read
            # every row of every session of the site (a year of them) and then filter by time;
            # driven by the time index it reads the period's rows and looks each session up.
            q = q.join(SessionRow, SessionRow.id == join_from + 0)
        if self.site:
            q = q.where(SessionRow.site == self.site)
        if self.camera:
            q = q.where(SessionRow.camera == self.camera)
        return q

    def describe(self) -> str:
        return " / ".join(x for x in (self.site, self.camera) if x) or "all sites and cameras"


EVERY_COUNTER = Counter()


@dataclass(frozen=True)
class SessionInfo:
    id: int
    started_at: dt.datetime  # UTC
    ended_at: dt.datetime | None
    status: str
    source: str
    site: str
    camera: str
    model_name: str
    model_sha256: str
    provider: str
    frames: int

    @property
    def seconds(self) -> float:
        return ((self.ended_at or self.started_at) - self.started_at).total_seconds()


@dataclass(frozen=True)
class VisitInfo:
    session_id: int
    visit_no: int
    first_seen: dt.datetime  # UTC
    last_seen: dt.datetime
    frames: int
    distribution: tuple[float, ...]  # 7 probabilities, CLASSES order


@dataclass(frozen=True)
class TimelinePoint:
    at: dt.datetime  # UTC
    frames: int
    faces: int
    distribution: tuple[float, ...]


@dataclass(frozen=True)
class PeriodMeans:
    """A period's visit count and mean emotion distribution, averaged by the database."""

    start: dt.datetime
    end: dt.datetime
    visits: int
    mean_distribution: tuple[float, ...]  # zeros without visits


_SESSION_COLUMNS = (SessionRow.id, SessionRow.started_at, SessionRow.ended_at, SessionRow.status, SessionRow.source,
                    SessionRow.site, SessionRow.camera, SessionRow.model_name, SessionRow.model_sha256,
                    SessionRow.provider, SessionRow.frames)


def _p(table: Any) -> list[Any]:
    return [getattr(table, f"p_{c}") for c in CLASSES]


def _session(r: Any) -> SessionInfo:
    return SessionInfo(r[0], as_utc(r[1]), as_utc(r[2]) if r[2] is not None else None, *r[3:])


def _visit(r: Any) -> VisitInfo:
    return VisitInfo(r[0], r[1], as_utc(r[2]), as_utc(r[3]), r[4], tuple(float(x) for x in r[5:]))


def _point(r: Any) -> TimelinePoint:
    return TimelinePoint(as_utc(r[0]), r[1], r[2], tuple(float(x) for x in r[3:]))


def sites(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return sorted(c.scalars(select(SessionRow.site).distinct()).all())


def cameras(engine: Engine, site: str | None = None) -> list[str]:
    q = select(SessionRow.camera).distinct()
    if site:
        q = q.where(SessionRow.site == site)
    with engine.connect() as c:
        return sorted(c.scalars(q).all())


def recent_sessions(engine: Engine, limit: int = 50, counter: Counter = EVERY_COUNTER) -> list[SessionInfo]:
    q = counter.where(select(*_SESSION_COLUMNS)).order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
    with engine.connect() as c:
        return [_session(r) for r in c.execute(q.limit(limit))]


def find_session(engine: Engine, ref: str | int, counter: Counter = EVERY_COUNTER) -> SessionInfo | None:
    """A session by id, or 'last' (the latest of the chosen counters)."""
    if ref == "last":
        found = recent_sessions(engine, 1, counter)
        return found[0] if found else None
    with engine.connect() as c:
        row = c.execute(counter.where(select(*_SESSION_COLUMNS)).where(SessionRow.id == int(ref))).first()
    return _session(row) if row is not None else None


def sessions_started(engine: Engine, start: dt.datetime, end: dt.datetime,
                     counter: Counter = EVERY_COUNTER) -> list[SessionInfo]:
    q = counter.where(select(*_SESSION_COLUMNS)).where(SessionRow.started_at >= _utc(start),
                                                        SessionRow.started_at < _utc(end))
    with engine.connect() as c:
        return [_session(r) for r in c.execute(q.order_by(SessionRow.started_at, SessionRow.id))]


_VISIT_COLUMNS = (VisitRow.session_id, VisitRow.visit_no, VisitRow.first_seen, VisitRow.last_seen, VisitRow.frames,
                  *_p(VisitRow))


def visits_started(engine: Engine, start: dt.datetime, end: dt.datetime,
                   counter: Counter = EVERY_COUNTER) -> list[VisitInfo]:
    """Visits that began in [start, end) (a visit belongs to the hour and day it began)."""
    q = counter.where(select(*_VISIT_COLUMNS), join_from=VisitRow.session_id)
    q = q.where(VisitRow.first_seen >= _utc(start), VisitRow.first_seen < _utc(end))
    with engine.connect() as c:
        return [_visit(r) for r in c.execute(q.order_by(VisitRow.first_seen, VisitRow.id))]


def visits_of(engine: Engine, session_ids: Sequence[int]) -> list[VisitInfo]:
    """Every visit of these sessions in one query (ordered by session, then time)."""
    if not session_ids:
        return []
    q = select(*_VISIT_COLUMNS).where(VisitRow.session_id.in_(list(session_ids)))
    with engine.connect() as c:
        return [_visit(r) for r in c.execute(q.order_by(VisitRow.session_id, VisitRow.first_seen, VisitRow.id))]


_POINT_COLUMNS = (TimelineRow.at, TimelineRow.frames, TimelineRow.faces, *_p(TimelineRow))


def timeline_in(engine: Engine, start: dt.datetime, end: dt.datetime,
                counter: Counter = EVERY_COUNTER) -> list[TimelinePoint]:
    q = counter.where(select(*_POINT_COLUMNS), join_from=TimelineRow.session_id)
    q = q.where(TimelineRow.at >= _utc(start), TimelineRow.at < _utc(end))
    with engine.connect() as c:
        return [_point(r) for r in c.execute(q.order_by(TimelineRow.at))]


def timeline_of(engine: Engine, session_id: int) -> list[TimelinePoint]:
    q = select(*_POINT_COLUMNS).where(TimelineRow.session_id == session_id).order_by(TimelineRow.at)
    with engine.connect() as c:
        return [_point(r) for r in c.execute(q)]


def period_means(engine: Engine, periods: Sequence[tuple[dt.datetime, dt.datetime]],
                 counter: Counter = EVERY_COUNTER) -> list[PeriodMeans]:
    """Visit count and mean distribution for each [start, end) period, in one grouped query.
    Periods are given in UTC by the caller (a business day is 23-25 hours), so the
    database needs no time-zone support: a CASE picks the period. They must be in time
    order and not overlap; gaps are allowed (the same hour on four past Mondays), and each
    run of back-to-back periods is one range of the `first_seen` index."""
    if not periods:
        return []
    bounds = [(_utc(s), _utc(e)) for s, e in periods]
    if any(s >= e for s, e in bounds) or any(a[1] > b[0] for a, b in pairwise(bounds)):
        raise ValueError("periods must be non-empty, in time order and not overlap")
    runs = [list(bounds[0])]
    for s, e in bounds[1:]:
        if s == runs[-1][1]:
            runs[-1][1] = e
        else:
            runs.append([s, e])
    which = case(*[(VisitRow.first_seen < e, i) for i, (_s, e) in enumerate(bounds)], else_=-1).label("period")
    rows = counter.where(select(which, *_p(VisitRow)), join_from=VisitRow.session_id)
    inner = rows.where(or_(*[and_(VisitRow.first_seen >= s, VisitRow.first_seen < e) for s, e in runs])).subquery()
    cols = [inner.c[f"p_{c}"] for c in CLASSES]
    q = select(inner.c.period, func.count(), *[func.avg(col) for col in cols]).group_by(inner.c.period)
    with engine.connect() as c:
        found = {int(r[0]): (int(r[1]), tuple(float(x) for x in r[2:])) for r in c.execute(q)}
    zeros = (0.0,) * len(CLASSES)
    return [PeriodMeans(s, e, *found.get(i, (0, zeros))) for i, (s, e) in enumerate(bounds)]


def _utc(t: dt.datetime) -> dt.datetime:
    """Bound parameters in UTC: SQLite compares the stored UTC text, so a local-aware
    time would silently compare its wall clock."""
    return as_utc(t)


def timeline_minutes(engine: Engine, start: dt.datetime, end: dt.datetime,
                     counter: Counter = EVERY_COUNTER) -> list[TimelinePoint]:
    """The timeline in [start, end) summed by the minute in the database: frames and
    faces added up, the distribution averaged over the faces. A day report reads ~900
    rows a counter instead of ~54,000 seconds. (Every zone's offset is whole minutes, so
    UTC minutes are local minutes.)"""
    if engine.dialect.name == "sqlite":  # DateTime is stored as 'YYYY-MM-DD HH:MM:SS.ffffff' text
        minute: Any = func.substr(TimelineRow.at, 1, 16)
    elif engine.dialect.name == "postgresql":
        minute = func.date_trunc("minute", TimelineRow.at)
    else:
        return _minutes_in_python(timeline_in(engine, start, end, counter))
    weighted = [(getattr(TimelineRow, f"p_{c}") * TimelineRow.faces).label(f"p_{c}") for c in CLASSES]
    rows = counter.where(select(minute.label("minute"), TimelineRow.frames, TimelineRow.faces, *weighted),
                         join_from=TimelineRow.session_id)
    inner = rows.where(TimelineRow.at >= _utc(start), TimelineRow.at < _utc(end)).subquery()
    q = (select(inner.c.minute, func.sum(inner.c.frames), func.sum(inner.c.faces),
                *[func.sum(inner.c[f"p_{c}"]) for c in CLASSES])
         .group_by(inner.c.minute).order_by(inner.c.minute))
    out = []
    with engine.connect() as c:
        for r in c.execute(q):
            at = r[0] if isinstance(r[0], dt.datetime) else dt.datetime.strptime(r[0], "%Y-%m-%d %H:%M")
            faces = int(r[2] or 0)
            dist = tuple(float(x or 0.0) / faces if faces else 0.0 for x in r[3:])
            out.append(TimelinePoint(as_utc(at), int(r[1] or 0), faces, dist))
    return out


def _minutes_in_python(points: Sequence[TimelinePoint]) -> list[TimelinePoint]:
    out: list[TimelinePoint] = []
    sums: dict[dt.datetime, list[float]] = {}
    for p in points:
        s = sums.setdefault(p.at.replace(second=0, microsecond=0), [0.0] * (2 + len(CLASSES)))
        s[0] += p.frames
        s[1] += p.faces
        for i, x in enumerate(p.distribution):
            s[2 + i] += x * p.faces
    for at, s in sorted(sums.items()):
        faces = int(s[1])
        out.append(TimelinePoint(at, int(s[0]), faces, tuple(x / faces if faces else 0.0 for x in s[2:])))
    return out


def recorded_zones(engine: Engine) -> dict[str, tuple[str, str]]:
    """Each site's (time_zone, business_day_start) as its latest session recorded them, so
    a chain's head office reads every shop's hours in that shop's zone. Sites whose
    sessions predate the setting are absent."""
    latest = select(func.max(SessionRow.id)).group_by(SessionRow.site).scalar_subquery()
    out: dict[str, tuple[str, str]] = {}
    with engine.connect() as c:
        for site, settings in c.execute(select(SessionRow.site, SessionRow.settings).where(SessionRow.id.in_(latest))):
            st = (settings or {}).get("storage") or {}
            if isinstance(st, dict) and isinstance(st.get("time_zone"), str) and st["time_zone"]:
                out[site] = (st["time_zone"], str(st.get("business_day_start") or "04:00"))
    return out


def timeline_seconds(engine: Engine, start: dt.datetime, end: dt.datetime, counter: Counter = EVERY_COUNTER) -> int:
    """How many per-second rows [start, end) holds (a day report's timeline, counted, not read)."""
    q = counter.where(select(func.count(TimelineRow.id)), join_from=TimelineRow.session_id)
    q = q.where(TimelineRow.at >= _utc(start), TimelineRow.at < _utc(end))
    with engine.connect() as c:
        return int(c.execute(q).scalar() or 0)
