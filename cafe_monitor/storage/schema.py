"""The tables: sessions, visits and a per-second timeline. Numbers only: no image,
crop or embedding column exists, and a test keeps it that way."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cafe_monitor.domain import CLASSES

UTC = dt.timezone.utc


def as_utc(t: dt.datetime) -> dt.datetime:
    """Stored times are UTC; SQLite hands them back naive, PostgreSQL aware."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


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
    #: last time the writer of a running session was alive (schema 0003): a fresh one is a
    #: counter recording right now, a stale one a crash
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: "host:pid" of the program recording it (schema 0004): on the same host a dead pid is a crash
    recorder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the recording counter's random id, kept in its data folder (schema 0007): clones with
    #: one host name are told apart (cafe_monitor.counter_identity)
    counter_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    visits: Mapped[list[VisitRow]] = relationship(back_populates="session", cascade="all, delete-orphan")


class VisitRow(EmotionColumns, Base):
    """One customer visit; written while it is open (checkpoints) and again when it ends."""

    __tablename__ = "visits"
    #: a visit is one row, updated in place by its checkpoints (schema 0003)
    __table_args__ = (Index("ix_visits_session_visit_no", "session_id", "visit_no", unique=True),)
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
    #: a second is stored once (schema 0008)
    __table_args__ = (Index("ix_timeline_session_at", "session_id", "at", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    frames: Mapped[int] = mapped_column(Integer)
    faces: Mapped[int] = mapped_column(Integer)  # face observations in the bucket


class DeletionRow(Base):
    """What `delete` removed (schema 0008), so that `import` of a rescue file never brings it
    back: a session by its key (site, camera, start), or a site's period [start, end)."""

    __tablename__ = "deletions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str | None] = mapped_column(String(100), nullable=True)  # None: every site
    camera: Mapped[str | None] = mapped_column(String(100), nullable=True)
    session_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
