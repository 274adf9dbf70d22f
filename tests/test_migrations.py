"""Schema migrations inside one program: threads that open databases at the same time
(the dashboard's History and today panels' first reads, a session starting) each get an
up-to-date schema; Alembic's module-level context is not theirs to share at once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import inspect

from cafe_monitor import storage
from cafe_monitor.domain import CLASSES


def test_threads_opening_databases_at_once_all_get_the_schema(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'db{i % 3}.sqlite'}" for i in range(6)]  # each file opened twice
    start, errors, engines = threading.Barrier(len(urls)), [], {}

    def open_one(i: int) -> None:
        start.wait()
        try:
            engines[i] = storage.open_database(urls[i])
        except Exception as exc:  # what a loader thread would show the user
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(len(urls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    for engine in engines.values():
        assert {"sessions", "visits", "timeline"} <= set(inspect(engine).get_table_names())


def test_a_database_of_the_first_schema_keeps_its_data_through_every_migration(any_db_url: str) -> None:
    """A shop's database from schema 0001, with rows, opened by today's program (SQLite and
    PostgreSQL): every row kept, secrets stored before redaction removed (0005, 0006), a
    second stored twice reduced to its first row (0008), new columns empty."""
    import datetime as dt

    import sqlalchemy as sa
    from alembic import command
    from alembic.script import ScriptDirectory

    from cafe_monitor.migrations import alembic_config

    engine = sa.create_engine(any_db_url)
    command.upgrade(alembic_config(engine), "0001")
    tables = sa.MetaData()
    tables.reflect(engine, only=("sessions", "visits", "timeline"))
    at = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.timezone.utc)
    probs = {f"p_{c}": (1.0 if c == "happy" else 0.0) for c in CLASSES}
    with engine.begin() as c:
        c.execute(tables.tables["sessions"].insert().values(
            id=1, started_at=at, ended_at=at + dt.timedelta(hours=1), status="ended",
            source="rtsp://ops:S3cret@10.0.0.5/stream1", site="north", camera="counter", model_name="m",
            model_sha256="0" * 64, provider="CPU", frames=900,
            settings={"storage": {"url": "postgresql+psycopg://cafe:S3cret@db.example/cafe"}}))
        c.execute(tables.tables["visits"].insert().values(
            session_id=1, visit_no=1, first_seen=at, last_seen=at + dt.timedelta(seconds=40), frames=600, **probs))
        for second, frames in ((0, 25), (0, 26), (1, 24)):  # second 0 stored twice (a retried commit)
            c.execute(tables.tables["timeline"].insert().values(
                session_id=1, at=at + dt.timedelta(seconds=second), frames=frames, faces=1, **probs))
    engine.dispose()

    upgraded = storage.open_database(any_db_url)
    with upgraded.connect() as c:
        head = ScriptDirectory.from_config(alembic_config(upgraded)).get_current_head()
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head
    row = storage.get_session(upgraded, 1)
    assert row is not None and (row.site, row.camera, row.frames, row.status) == ("north", "counter", 900, "ended")
    assert "S3cret" not in row.source and "S3cret" not in repr(row.settings)
    assert row.source.startswith("rtsp://ops:***@10.0.0.5") and row.counter_id is None and row.camera_gaps is None
    (v,) = storage.session_visits(upgraded, 1)
    assert (v.visit_no, v.frames, v.p_happy) == (1, 600, 1.0)
    assert storage.as_utc(v.first_seen) == at
    assert [t.frames for t in storage.session_timeline(upgraded, 1)] == [25, 24]
    upgraded.dispose()
