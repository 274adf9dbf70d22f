"""No secrets at rest: a stream password and a database password never reach the database,
a log line, the JSON or CSV a user exports (issue 15, item 6)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cafe_monitor import storage
from cafe_monitor.capture import CaptureThread
from cafe_monitor.config import Settings
from cafe_monitor.redact import redact, redact_url
from cafe_monitor.session import MonitorSession
from tests.test_cli import cli

SECRET = "S3cr3t-P4ss"
STREAM = f"rtsp://cafe-cam:{SECRET}@127.0.0.1:9/stream1"
DB_WITH_PASSWORD = f"postgresql+psycopg://cafe:{SECRET}@db.example:5432/cafe"


@pytest.mark.parametrize(("url", "shown"), [
    (STREAM, "rtsp://cafe-cam:***@127.0.0.1:9/stream1"),
    (DB_WITH_PASSWORD, "postgresql+psycopg://cafe:***@db.example:5432/cafe"),
    ("http://u:p%40ss@host/x?y=1", "http://u:***@host/x?y=1"),
    ("postgresql://db/cafe?user=cafe&password=" + SECRET, "postgresql://db/cafe?user=cafe&password=***"),
    ("0", "0"), ("/videos/counter.mp4", "/videos/counter.mp4"), ("rtsp://cam/stream", "rtsp://cam/stream"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_reaches_nested_settings() -> None:
    s = dataclasses.asdict(Settings())
    s["camera"]["source"], s["storage"]["url"] = STREAM, DB_WITH_PASSWORD
    assert SECRET not in repr(redact(s)) and redact(s)["storage"]["url"].startswith("postgresql+psycopg://cafe:***@")


def run_session_with_secrets(db_url: str, clip: Path) -> int:
    """A session whose source and settings carry passwords (the clip stands in for the stream)."""
    settings = Settings()
    settings = dataclasses.replace(settings, camera=dataclasses.replace(settings.camera, source=STREAM),
                                   storage=dataclasses.replace(settings.storage, url=db_url))
    session = MonitorSession(settings, source=STREAM, db_url=db_url, capture=CaptureThread(str(clip)))
    try:
        result = session.run()
    finally:
        session.pipeline.close()
    assert result.session_id is not None and result.visits
    return result.session_id


def assert_no_secret_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.media
def test_session_with_secrets_keeps_none_of_them(tmp_path: Path, customers_gif: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "db" / "cafe.sqlite"
    url = f"sqlite:///{db}"
    caplog.set_level(logging.DEBUG)
    sid = run_session_with_secrets(url, customers_gif)
    row = storage.get_session(storage.open_database(url), sid)
    assert row is not None and row.source == "rtsp://cafe-cam:***@127.0.0.1:9/stream1"
    assert row.settings["camera"]["source"] == row.source
    storage.open_database(url).dispose()
    assert_no_secret_in(db.parent)  # the database file (and its WAL)
    assert SECRET not in caplog.text
    listing = cli("sessions", "--json", "--db", url)
    assert listing.returncode == 0 and "cafe-cam:***@" in listing.stdout and SECRET not in listing.stdout
    out = tmp_path / "reports"
    rep = cli("report", "--session", str(sid), "--format", "json,csv,pdf", "--out", str(out), "--db", url)
    assert rep.returncode == 0, rep.stderr
    assert {p.suffix for p in out.iterdir()} >= {".json", ".csv", ".pdf"}
    assert_no_secret_in(out)


def test_old_sessions_lose_their_secrets_on_upgrade(tmp_path: Path) -> None:
    """Rows written before redaction existed are cleaned by the schema upgrade (0005)."""
    from alembic import command

    from cafe_monitor.migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    command.upgrade(alembic_config(engine), "0004")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sessions (started_at, status, source, site, camera, model_name, model_sha256, "
                          "provider, settings, frames) VALUES ('2026-01-01 10:00:00', 'ended', :src, 'main', "
                          "'counter', 'm', 'x', 'CPU', :settings, 0)"),
                     {"src": STREAM, "settings": json.dumps({"storage": {"url": DB_WITH_PASSWORD}})})
    engine.dispose()
    storage.open_database(url).dispose()
    assert SECRET.encode() not in (tmp_path / "old.db").read_bytes()
    row = storage.get_session(storage.open_database(url), "last")
    assert row is not None and row.source.endswith(":***@127.0.0.1:9/stream1")
    assert row.settings["storage"]["url"] == "postgresql+psycopg://cafe:***@db.example:5432/cafe"


def test_unreachable_stream_and_database_errors_hide_the_password(tmp_path: Path) -> None:
    p = cli("run", "--headless", "--no-store", "--source", STREAM, "--max-seconds", "2", timeout=180)
    assert "stream rtsp://cafe-cam:***@" in p.stderr and SECRET not in p.stderr + p.stdout  # waited for
    p = cli("sessions", "--db", "postgresql+psycopg://cafe:" + SECRET + "@127.0.0.1:9/cafe")
    assert p.returncode == 2 and "cafe:***@" in p.stderr and SECRET not in p.stderr + p.stdout


@pytest.mark.media
@pytest.mark.postgres
def test_postgresql_password_is_not_stored(tmp_path: Path, customers_gif: Path, pg_url: str) -> None:
    """The password of the URL the session really connects with (the test server ignores it)."""
    base = pg_url
    url = base.replace("://postgres@", f"://postgres:{SECRET}@")
    assert SECRET in url
    run_session_with_secrets(url, customers_gif)
    engine = create_engine(base)
    with engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for table in ("sessions", "visits", "timeline")
                         for r in conn.execute(text(f"SELECT * FROM {table}")))
    engine.dispose()
    assert "postgres:***@" in dump and SECRET not in dump
