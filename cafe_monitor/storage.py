"""Sessions, visits and a per-second timeline in SQL (SQLAlchemy 2). Numbers only:
no image, crop or embedding column exists, and a test keeps it that way.

SQLite in the user data folder is the zero-set-up default (WAL, so the dashboard can
read while the writer writes); any SQLAlchemy URL works, PostgreSQL for chains of
shops, each row tagged with its site and camera. Exactly one thread writes
(`SessionWriter`), committing in batches about once a second so a crash loses at most
~2 s; rows that cannot be written (locked or failing database) are kept and retried,
and dumped to a JSON-lines rescue file if the database never comes back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from cafe_monitor.classification import CLASSES
from cafe_monitor.tracking import Visit

log = logging.getLogger(__name__)

UTC = dt.timezone.utc


def as_utc(t: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite hands them back naive, PostgreSQL aware."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class StorageError(RuntimeError):
    """The database cannot be opened, is locked, damaged or of an unknown schema."""


class Base(DeclarativeBase):
    pass


class EmotionColumns:
    """The 7 probabilities, one float column each (never a blob), in FER2013 order."""

    p_angry: Mapped[float] = mapped_column(Float)
    p_disgust: Mapped[float] = mapped_column(Float)
    p_fear: Mapped[float] = mapped_column(Float)
    p_happy: Mapped[float] = mapped_column(Float)
    p_sad: Mapped[float] = mapped_column(Float)
    p_surprise: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)

    def distribution(self) -> list[float]:
        return [getattr(self, f"p_{c}") for c in CLASSES]


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ended | interrupted
    source: Mapped[str] = mapped_column(String(500))
    site: Mapped[str] = mapped_column(String(100), index=True)
    camera: Mapped[str] = mapped_column(String(100))
    model_name: Mapped[str] = mapped_column(String(200))
    model_sha256: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    #: [[lost_at, back_at], ...] epoch seconds when the camera stopped delivering (schema 0002)
    camera_gaps: Mapped[list[list[float]] | None] = mapped_column(JSON, nullable=True)
    visits: Mapped[list[VisitRow]] = relationship(back_populates="session", cascade="all, delete-orphan")


class VisitRow(EmotionColumns, Base):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    visit_no: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    frames: Mapped[int] = mapped_column(Integer)
    session: Mapped[SessionRow] = relationship(back_populates="visits")


class TimelineRow(EmotionColumns, Base):
    """One second (bucket) of a session: what the live charts and reports plot."""

    __tablename__ = "timeline"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    frames: Mapped[int] = mapped_column(Integer)
    faces: Mapped[int] = mapped_column(Integer)  # face observations in the bucket


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """Engine for `url`, schema brought up to date (Alembic), integrity checked for SQLite."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(f"cannot use database URL {_safe(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                check = conn.execute(text("PRAGMA quick_check")).scalar()
                if check != "ok":
                    raise StorageError(f"database {_safe(url)} is damaged ({check}); move it aside and "
                                       "restart to begin a new one, or restore a backup")
    except OperationalError as exc:
        raise StorageError(_explain(url, exc)) from exc
    except DatabaseError as exc:  # "file is not a database" and friends
        raise StorageError(f"database {_safe(url)} is damaged or not a database: {exc.orig}") from exc
    if migrate:
        from cafe_monitor.migrations import upgrade

        try:
            upgrade(engine)
        except OperationalError as exc:
            raise StorageError(_explain(url, exc)) from exc
    return engine


def _safe(url: str) -> str:
    """URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid URL>"


def _explain(url: str, exc: OperationalError) -> str:
    msg = str(exc.orig) if exc.orig is not None else str(exc)
    if "locked" in msg:
        return f"database {_safe(url)} is locked by another program; close it and retry"
    return f"cannot open database {_safe(url)}: {msg.splitlines()[0]}"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


# --- writing ---------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineBucket:
    at: dt.datetime
    frames: int
    faces: int
    distribution: tuple[float, ...]  # mean over face observations (zeros when no faces)


def _probs(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    return {f"p_{c}": float(v) for c, v in zip(CLASSES, values, strict=True)}


def start_session(engine: Engine, *, source: str, site: str, camera: str, model_name: str,
                  model_sha256: str, provider: str, settings: dict[str, Any],
                  started_at: dt.datetime | None = None) -> int:
    with session_scope(engine) as s:
        row = SessionRow(started_at=started_at or dt.datetime.now(UTC), source=source, site=site, camera=camera,
                         model_name=model_name, model_sha256=model_sha256, provider=provider,
                         settings=settings, status="running")
        s.add(row)
        s.commit()
        return row.id


class SessionWriter(threading.Thread):
    """The one database writer: batches visits and timeline buckets, commits ~1/s."""

    def __init__(self, engine: Engine, session_id: int, *, origin: float, flush_seconds: float = 1.0,
                 rescue_dir: Path | None = None) -> None:
        super().__init__(name="db-writer", daemon=True)
        self.engine = engine
        self.session_id = session_id
        self.origin = origin  # add to frame timestamps to get epoch seconds
        self.flush_seconds = flush_seconds
        self.rescue_dir = rescue_dir
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: list[object] = []
        self._stopping = threading.Event()
        self.frames = 0
        self.last_error: str | None = None
        self.rescue_file: Path | None = None
        self._gaps: list[list[float]] = []

    def to_datetime(self, timestamp: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.origin + timestamp, UTC)

    def add_visit(self, visit: Visit) -> None:
        self._queue.put(visit)

    def add_bucket(self, bucket: TimelineBucket) -> None:
        self._queue.put(bucket)

    def run(self) -> None:
        while not self._stopping.is_set():
            deadline = time.monotonic() + self.flush_seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    self._pending.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
                if self._stopping.is_set():
                    break
            self._flush()

    def close(self, status: str = "ended", ended_at: dt.datetime | None = None,
              camera_gaps: Sequence[tuple[float, float]] = ()) -> None:
        """Drain, write the session's end, and stop. Safe to call once."""
        self._stopping.set()
        self.join(timeout=10)
        self._drain()
        self._gaps = [[round(a, 3), round(b, 3)] for a, b in camera_gaps]
        self._flush(final_status=status, ended_at=ended_at or dt.datetime.now(UTC))
        if self._pending:
            self._rescue()

    def _drain(self) -> None:
        while True:
            try:
                self._pending.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _flush(self, final_status: str | None = None, ended_at: dt.datetime | None = None) -> None:
        if not self._pending and final_status is None:
            return
        rows: list[Base] = []
        for item in self._pending:
            if isinstance(item, Visit):
                rows.append(VisitRow(session_id=self.session_id, visit_no=item.id, frames=item.frames,
                                     first_seen=self.to_datetime(item.first_seen),
                                     last_seen=self.to_datetime(item.last_seen), **_probs(item.distribution)))
            elif isinstance(item, TimelineBucket):
                rows.append(TimelineRow(session_id=self.session_id, at=item.at, frames=item.frames,
                                        faces=item.faces, **_probs(item.distribution)))
        frames = sum(r.frames for r in rows if isinstance(r, TimelineRow))
        for attempt in range(3 if final_status else 1):
            try:
                with session_scope(self.engine) as s:
                    s.add_all(rows)
                    row = s.get(SessionRow, self.session_id)
                    if row is not None:
                        row.frames += frames
                        if final_status is not None:
                            row.status, row.ended_at = final_status, ended_at
                            row.camera_gaps = self._gaps or None
                    s.commit()
                self._pending.clear()
                self.frames += frames
                self.last_error = None
                return
            except SQLAlchemyError as exc:
                self.last_error = str(getattr(exc, "orig", exc)).splitlines()[0]
                log.warning("database write failed (%s); %d rows kept for retry", self.last_error,
                            len(self._pending))
                time.sleep(0.5 * (attempt + 1) if final_status else 0)

    def _rescue(self) -> None:
        folder = self.rescue_dir or Path.cwd()
        path = folder / f"unsaved-session-{self.session_id}-{int(time.time())}.jsonl"
        with path.open("w") as fh:
            for item in self._pending:
                if isinstance(item, Visit):
                    fh.write(json.dumps({"visit": item.as_dict()}) + "\n")
                elif isinstance(item, TimelineBucket):
                    fh.write(json.dumps({"timeline": {"at": item.at.isoformat(), "frames": item.frames,
                                                      "faces": item.faces,
                                                      "distribution": list(item.distribution)}}) + "\n")
        self.rescue_file = path
        log.error("database unavailable: %d rows saved to %s", len(self._pending), path)


class TimelineAggregator:
    """Per-frame face probabilities -> one TimelineBucket per second (pure, no I/O)."""

    def __init__(self, to_datetime: Any, bucket_seconds: int = 1) -> None:
        self.to_datetime = to_datetime
        self.bucket_seconds = bucket_seconds
        self._key: int | None = None
        self._frames = 0
        self._faces = 0
        self._sum = [0.0] * len(CLASSES)

    def add(self, timestamp: float, probabilities: Sequence[Sequence[float] | np.ndarray]) -> TimelineBucket | None:
        """Add one frame; returns the previous bucket when this frame starts a new one."""
        key = int(timestamp // self.bucket_seconds)
        done = self.flush() if self._key is not None and key != self._key else None
        self._key = key
        self._frames += 1
        for p in probabilities:
            self._faces += 1
            for i, v in enumerate(p):
                self._sum[i] += float(v)
        return done

    def flush(self) -> TimelineBucket | None:
        if self._key is None or self._frames == 0:
            return None
        n = max(self._faces, 1)
        bucket = TimelineBucket(self.to_datetime(self._key * self.bucket_seconds), self._frames, self._faces,
                                tuple(round(s / n, 5) if self._faces else 0.0 for s in self._sum))
        self._key, self._frames, self._faces, self._sum = None, 0, 0, [0.0] * len(CLASSES)
        return bucket


# --- reading ---------------------------------------------------------------------

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
