"""Reading (and the small maintenance writes made at start): sessions, visits, timeline."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from cafe_monitor.storage.database import session_scope
from cafe_monitor.storage.schema import UTC, SessionRow, TimelineRow, VisitRow


def mark_interrupted(engine: Engine, site: str, camera: str) -> int:
    """Sessions of this counter left 'running' by a crash are closed at their last written
    second. One counter (site + camera) runs one session at a time; other counters
    sharing the database may be running right now and are left alone."""
    with session_scope(engine) as s:
        stale = s.scalars(select(SessionRow).where(SessionRow.status == "running", SessionRow.site == site,
                                                   SessionRow.camera == camera)).all()
        for row in stale:
            last = s.scalar(select(func.max(TimelineRow.at)).where(TimelineRow.session_id == row.id))
            row.status, row.ended_at = "interrupted", last or row.started_at
        s.commit()
        return len(stale)


def prune_timeline(engine: Engine, retention_days: int, now: dt.datetime | None = None) -> int:
    """Delete per-second rows older than the retention; sessions and visits stay."""
    cutoff = (now or dt.datetime.now(UTC)) - dt.timedelta(days=retention_days)
    with session_scope(engine) as s:
        result = s.execute(delete(TimelineRow).where(TimelineRow.at < cutoff))
        s.commit()
        return int(getattr(result, "rowcount", 0) or 0)


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
