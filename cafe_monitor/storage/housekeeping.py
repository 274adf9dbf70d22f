"""Writes made outside a session's writer: closing crashed sessions, retention, deletion.

Every one is scoped to one site (and camera) so that counters of a chain sharing one
database never touch each other's rows.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, select
from sqlalchemy.engine import Engine

from cafe_monitor.counter_identity import counter_id
from cafe_monitor.domain import counted
from cafe_monitor.localtime import CafeClock
from cafe_monitor.storage.database import StorageError, session_scope
from cafe_monitor.storage.schema import UTC, DeletionRow, SessionRow, TimelineRow, VisitRow, as_utc

#: a running session whose writer was alive this recently belongs to a counter recording now
#: (the writer beats every 5 s; an outage or a long stall is allowed for)
LIVE_HEARTBEAT = dt.timedelta(seconds=30)


class CounterBusyError(StorageError):
    """Another counter with the same site and camera names is recording into this database."""


def this_recorder() -> str:
    """Who records a session: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead_here(row: SessionRow) -> bool:
    """The session was recorded by this counter (this host name and, from schema 0007, this
    counter's id) in a process that no longer exists. A clone with the same host name has
    another id; a copied data folder on another machine another host name: neither is mine."""
    host, _, pid = (row.recorder or "").rpartition(":")
    mine = host == socket.gethostname() and (row.counter_id is None or row.counter_id == counter_id())
    if not mine or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, someone else's
        return False
    return False


def _live(row: SessionRow, now: dt.datetime) -> bool:
    """A counter is recording this session right now: its writer beat recently and, if it
    ran on this computer, its process is still there (a restart after a crash is not refused)."""
    return (row.status == "running" and row.heartbeat_at is not None
            and now - as_utc(row.heartbeat_at) < LIVE_HEARTBEAT and not _dead_here(row))


def mark_interrupted(engine: Engine, site: str, camera: str, now: dt.datetime | None = None) -> int:
    """Close this counter's sessions left 'running' by a crash, at their last written second.

    One counter (site + camera) runs one session at a time. If one of them is still
    beating, another program is recording under the same names right now: refused with
    CounterBusyError instead of cutting its session short."""
    now = now or dt.datetime.now(UTC)
    with session_scope(engine) as s:
        running = s.scalars(select(SessionRow).where(SessionRow.status == "running", SessionRow.site == site,
                                                     SessionRow.camera == camera)).all()
        for row in running:
            if _live(row, now):
                ago = (now - as_utc(row.heartbeat_at or now)).total_seconds()
                raise CounterBusyError(
                    f"another counter is recording as site {site!r}, camera {camera!r} (session {row.id}, "
                    f"alive {ago:.0f} s ago); give this one its own [storage] site or camera_name")
        for row in running:
            last = max((t for t in (
                s.scalar(select(func.max(TimelineRow.at)).where(TimelineRow.session_id == row.id)),
                s.scalar(select(func.max(VisitRow.last_seen)).where(VisitRow.session_id == row.id)),
            ) if t is not None), key=as_utc, default=row.started_at)
            row.status, row.ended_at = "interrupted", last
        s.commit()
        return len(running)


def _n(result: Any) -> int:
    """Rows a DELETE removed."""
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Removed:
    sessions: int = 0
    visits: int = 0
    seconds: int = 0  # timeline rows

    def __add__(self, other: Removed) -> Removed:
        return Removed(self.sessions + other.sessions, self.visits + other.visits, self.seconds + other.seconds)

    def __str__(self) -> str:
        return (f"{counted(self.sessions, 'session')}, {counted(self.visits, 'visit')}, "
                f"{counted(self.seconds, 'timeline second')}")


def _site_sessions(site: str | None) -> Select[Any]:
    q = select(SessionRow.id)
    return q.where(SessionRow.site == site) if site is not None else q


def retention_cutoff(clock: CafeClock, now: dt.datetime, days: int) -> dt.datetime:
    """Where retention of `days` days cuts: the start of the site's business day `days`
    before today's, so a day is kept or removed whole (its report never shows half a day)."""
    return clock.day_range(clock.business_day(now) - dt.timedelta(days=days))[0]


def prune(engine: Engine, site: str, *, timeline_days: int, clock: CafeClock, visit_days: int = 0,
          now: dt.datetime | None = None) -> Removed:
    """Retention for one site, by its business days (`clock`: `site_clock`): per-second rows
    of days more than `timeline_days` before today go; visits (and the sessions left empty)
    of days more than `visit_days` before today go too when it is set (0 = keep)."""
    now = now or dt.datetime.now(UTC)
    mine = _site_sessions(site)
    with session_scope(engine) as s:
        cutoff = retention_cutoff(clock, now, timeline_days)
        seconds = _n(s.execute(delete(TimelineRow).where(TimelineRow.at < cutoff,
                                                         TimelineRow.session_id.in_(mine))))
        visits = sessions = 0
        if visit_days > 0:
            cutoff = retention_cutoff(clock, now, visit_days)
            visits = _n(s.execute(delete(VisitRow).where(VisitRow.last_seen < cutoff,
                                                         VisitRow.session_id.in_(mine))))
            sessions = _n(s.execute(delete(SessionRow).where(
                SessionRow.site == site, SessionRow.status != "running",
                func.coalesce(SessionRow.ended_at, SessionRow.started_at) < cutoff,
                ~exists().where(VisitRow.session_id == SessionRow.id),
                ~exists().where(TimelineRow.session_id == SessionRow.id))))
        s.commit()
    return Removed(sessions, visits, seconds)


def prune_timeline(engine: Engine, retention_days: int, now: dt.datetime | None = None,
                   site: str | None = None) -> int:
    """Per-second rows older than the retention (of one site, or all); sessions and visits stay."""
    cutoff = (now or dt.datetime.now(UTC)) - dt.timedelta(days=retention_days)
    with session_scope(engine) as s:
        n = _n(s.execute(delete(TimelineRow).where(TimelineRow.at < cutoff,
                                                   TimelineRow.session_id.in_(_site_sessions(site)))))
        s.commit()
        return n


def count_session(engine: Engine, session_id: int) -> Removed:
    """What deleting a session would remove (for the confirmation question)."""
    with session_scope(engine) as s:
        if s.get(SessionRow, session_id) is None:
            raise StorageError(f"no session {session_id} in this database")
        return Removed(1, s.scalar(select(func.count()).where(VisitRow.session_id == session_id)) or 0,
                       s.scalar(select(func.count()).where(TimelineRow.session_id == session_id)) or 0)


def delete_session(engine: Engine, session_id: int, now: dt.datetime | None = None) -> Removed:
    """A whole session with its visits and timeline (a data-subject request, a mistake).

    A session recording right now need not be stopped: every row recorded so far goes, its
    row stays while it runs (what it records from now on goes there; its writer never
    writes a deleted visit again)."""
    removed = count_session(engine, session_id)
    with session_scope(engine) as s:
        row = s.get(SessionRow, session_id)
        assert row is not None
        now = now or dt.datetime.now(UTC)
        live = _live(row, now)
        if not live:  # a live session goes on under its key: only its rows so far are gone
            s.add(_deleted_session(row, now))
        s.execute(delete(VisitRow).where(VisitRow.session_id == session_id))
        s.execute(delete(TimelineRow).where(TimelineRow.session_id == session_id))
        if not live:
            s.execute(delete(SessionRow).where(SessionRow.id == session_id))
        s.commit()
    return Removed(0, removed.visits, removed.seconds) if live else removed


def _deleted_session(row: SessionRow, now: dt.datetime) -> DeletionRow:
    """A deleted session's key, remembered so that `import` does not bring it back."""
    return DeletionRow(site=row.site, camera=row.camera, session_started_at=row.started_at, deleted_at=now)


def _in_range(start: dt.datetime, end: dt.datetime,
              site: str | None) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    mine = _site_sessions(site)
    return ((VisitRow.first_seen >= start) & (VisitRow.first_seen < end) & VisitRow.session_id.in_(mine),
            (TimelineRow.at >= start) & (TimelineRow.at < end) & TimelineRow.session_id.in_(mine))


def count_between(engine: Engine, start: dt.datetime, end: dt.datetime, site: str | None = None) -> Removed:
    visits, seconds = _in_range(start, end, site)
    with session_scope(engine) as s:
        return Removed(0, s.scalar(select(func.count(VisitRow.id)).where(visits)) or 0,
                       s.scalar(select(func.count(TimelineRow.id)).where(seconds)) or 0)


def delete_between(engine: Engine, start: dt.datetime, end: dt.datetime, site: str | None = None,
                   now: dt.datetime | None = None) -> Removed:
    """Every visit that began and every second recorded in [start, end) (of one site, or
    all), then the sessions this leaves empty. A session recording right now loses its rows
    in the range and goes on recording (its row is kept; its writer never writes a deleted
    visit again)."""
    now = now or dt.datetime.now(UTC)
    visits, seconds = _in_range(start, end, site)
    with session_scope(engine) as s:
        q = select(SessionRow).where(SessionRow.id.in_(
            select(VisitRow.session_id).where(visits).union(select(TimelineRow.session_id).where(seconds))))
        touched = s.scalars(q).all()
        s.add(DeletionRow(site=site, start=start, end=end, deleted_at=now))  # `import` keeps out of it
        n_visits = _n(s.execute(delete(VisitRow).where(visits)))
        n_seconds = _n(s.execute(delete(TimelineRow).where(seconds)))
        ids = [r.id for r in touched]
        empty = SessionRow.id.in_(ids) & (SessionRow.status != "running") \
            & ~exists().where(VisitRow.session_id == SessionRow.id) \
            & ~exists().where(TimelineRow.session_id == SessionRow.id)
        s.add_all(_deleted_session(row, now) for row in s.scalars(select(SessionRow).where(empty)).all())
        n_sessions = _n(s.execute(delete(SessionRow).where(empty))) if ids else 0
        s.commit()
    return Removed(n_sessions, n_visits, n_seconds)
