"""Redaction of every URL form SQLAlchemy and OpenCV (FFmpeg) accept (issue 23, point 5):
the userinfo ends at the LAST '@' before the host, so a user name holding '@' (an e-mail,
an Azure "admin@server") does not let the password through."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from cafe_monitor import storage
from cafe_monitor.redact import redact, redact_url
from cafe_monitor.storage.writer import start_session

SECRET = "S3cret"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://admin@server:S3cret@host/cafe", "postgresql+psycopg://admin@server:***@host/cafe"),
    ("rtsp://ops@cafe.example:S3cret@10.0.0.5/stream1", "rtsp://ops@cafe.example:***@10.0.0.5/stream1"),
    ("rtsp://ops:S3c@ret@10.0.0.5:554/live", "rtsp://ops:***@10.0.0.5:554/live"),
    ("postgresql://cafe:S3cret@[::1]:5432/cafe", "postgresql://cafe:***@[::1]:5432/cafe"),
    ("postgresql://a@b:S3cret@[2001:db8::7]/cafe", "postgresql://a@b:***@[2001:db8::7]/cafe"),
    ("postgresql://[::1]:5432/cafe?user=cafe&password=S3cret", "postgresql://[::1]:5432/cafe?user=cafe&password=***"),
    ("postgresql://host/cafe?password=S3cret&sslmode=require", "postgresql://host/cafe?password=***&sslmode=require"),
    ("rtsp://10.0.0.5/live?user=ops&pass=S3cret", "rtsp://10.0.0.5/live?user=ops&pass=***"),
    ("http://cam/video.cgi?user=ops&pwd=S3cret", "http://cam/video.cgi?user=ops&pwd=***"),
    ("postgresql://cafe:S3%40c%3Aret@host/cafe", "postgresql://cafe:***@host/cafe"),
    ("postgresql://admin%40server:S3cret@host/cafe", "postgresql://admin%40server:***@host/cafe"),
    ("postgresql://cafe:S3/cr?et@host/cafe", "postgresql://cafe:***@host/cafe"),
    ("mssql+pyodbc://u:S3cret@dsn;PWD=S3cret", "mssql+pyodbc://u:***@dsn;PWD=***"),
    ("rtsp://ops@10.0.0.5/live", "rtsp://ops@10.0.0.5/live"),
    ("postgresql://host/cafe?application_name=till", "postgresql://host/cafe?application_name=till"),
    ("sqlite:////home/cafe/data/cafe_monitor.db", "sqlite:////home/cafe/data/cafe_monitor.db"),
    ("/videos/counter.mp4", "/videos/counter.mp4"),
    ("camera rtsp://ops@x:S3cret@10.0.0.5/a failed; db postgresql://a@b:S3cret@h/c down",
     "camera rtsp://ops@x:***@10.0.0.5/a failed; db postgresql://a@b:***@h/c down"),
])
def test_redact_url_every_form(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://admin@server:S3cret@host/cafe", "postgresql://cafe:S3cret@[::1]:5432/cafe",
    "postgresql://cafe:S3/cr?et@host/cafe", "postgresql://admin%40server:S3cret@host/cafe",
])
def test_whatever_sqlalchemy_reads_as_the_password_is_gone(url: str) -> None:
    password = make_url(url).password
    assert password and password.replace("%40", "@") not in redact_url(url)


def test_session_row_and_rescue_header_hold_no_password(tmp_path: Path) -> None:
    engine = storage.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    stream = "rtsp://ops@cafe.example:S3cret@10.0.0.5/stream1"
    db = "postgresql+psycopg://admin@server:S3cret@host/cafe"
    sid = start_session(engine, source=stream, site="main", camera="counter", model_name="m", model_sha256="0",
                        provider="cpu", settings={"storage": {"url": db}, "camera": {"source": stream}},
                        started_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    with engine.connect() as c:
        row = c.execute(sa.select(storage.SessionRow.source, storage.SessionRow.settings)
                        .where(storage.SessionRow.id == sid)).one()
    assert SECRET not in row.source and SECRET not in repr(row.settings)
    assert SECRET not in repr(redact({"about": [stream, (db,)]}))


def test_old_rows_are_redacted_again_by_the_migration(tmp_path: Path) -> None:
    """Rows stored by the old redaction still hold the password: the next schema step removes it."""
    from alembic import command

    from cafe_monitor.migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    command.upgrade(alembic_config(engine), "0005")
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO sessions (started_at, status, source, site, camera, model_name, model_sha256, "
                          "provider, settings, frames) VALUES ('2026-01-01 00:00:00', 'ended', :src, 'main', "
                          "'counter', 'm', '0', 'cpu', :settings, 0)"),
                  {"src": "rtsp://ops@cafe.example:S3cret@10.0.0.5/s",
                   "settings": '{"storage": {"url": "postgresql://admin@server:S3cret@host/cafe"}}'})
    engine.dispose()
    engine = storage.open_database(url)
    with engine.connect() as c:
        source, settings = c.execute(sa.text("SELECT source, settings FROM sessions")).one()
    assert SECRET not in source and SECRET not in settings
