from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import LargeBinary, PickleType, inspect

from cafe_monitor import storage
from cafe_monitor.tracking import Visit

UTC = dt.timezone.utc


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    """Until `check()` holds (polled); `seconds` only ends a hung test."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def visit(i: int, t0: float = 0.0) -> Visit:
    d = np.zeros(7, np.float32)
    d[i % 7] = 1.0
    return Visit(i, t0, t0 + 3.0, 30, d, 20.0)


def recorded_session(engine: storage.Engine, site: str, at: dt.datetime, length: dt.timedelta) -> int:
    """A finished session of `site` started `at`, with one visit and one timeline second."""
    sid = storage.start_session(engine, source="0", site=site, camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={}, started_at=at)
    w = storage.SessionWriter(engine, sid, origin=at.timestamp(), flush_seconds=0.05)
    w.start()
    w.add_visit(visit(1))
    w.add_bucket(storage.TimelineBucket(at, 25, 25, (0.0,) * 7))
    w.close("ended", at + length)
    return sid


def new_session(engine: storage.Engine) -> int:
    return storage.start_session(engine, source="test", site="shop-1", camera="counter", model_name="m",
                                 model_sha256="0" * 64, provider="CPUExecutionProvider", settings={"a": 1})


def test_schema_has_no_binary_columns(any_db_url: str) -> None:
    """Privacy: nothing that could hold an image, crop or embedding."""
    engine = storage.open_database(any_db_url)
    insp = inspect(engine)
    for table in ("sessions", "visits", "timeline"):
        for col in insp.get_columns(table):
            assert not isinstance(col["type"], LargeBinary | PickleType), (table, col["name"])
            assert "blob" not in str(col["type"]).lower() and "bytea" not in str(col["type"]).lower()
    for table in storage.Base.metadata.tables.values():
        for col in table.columns:
            assert not isinstance(col.type, LargeBinary | PickleType)


def test_writer_round_trip(any_db_url: str) -> None:
    engine = storage.open_database(any_db_url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=1_700_000_000.0, flush_seconds=0.05)
    w.start()
    for i in range(3):
        w.add_visit(visit(i + 1, t0=i * 10.0))
    w.add_bucket(storage.TimelineBucket(w.to_datetime(1.0), 25, 12, (0.1,) * 7))
    w.close("ended")
    rows = storage.session_visits(engine, sid)
    assert [r.visit_no for r in rows] == [1, 2, 3]
    assert rows[0].distribution()[1] == 1.0
    s = storage.get_session(engine, sid)
    assert s is not None and s.status == "ended" and s.frames == 25 and s.site == "shop-1"
    assert len(storage.session_timeline(engine, sid)) == 1
    assert storage.get_session(engine, "last").id == sid


def test_migrations_are_idempotent(any_db_url: str) -> None:
    storage.open_database(any_db_url)
    storage.open_database(any_db_url)  # second start: nothing to do, no error


def test_interrupted_sessions_are_closed_on_next_start(db_url: str) -> None:
    engine = storage.open_database(db_url)
    sid = new_session(engine)
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=5)  # its writer has not beaten for 5 min: a crash
    assert storage.mark_interrupted(engine, "other-shop", "counter", now=later) == 0  # another counter's session
    assert storage.mark_interrupted(engine, "shop-1", "counter", now=later) == 1
    s = storage.get_session(engine, sid)
    assert s is not None and s.status == "interrupted"


def test_a_second_counter_with_the_same_names_is_refused(any_db_url: str) -> None:
    """Two programs left on the default site/camera names must not close each other's session."""
    engine = storage.open_database(any_db_url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=0.05)
    w.start()
    try:
        with pytest.raises(storage.CounterBusyError, match="site 'shop-1', camera 'counter'.*camera_name"):
            storage.mark_interrupted(engine, "shop-1", "counter")
        assert storage.mark_interrupted(engine, "shop-1", "till-2") == 0  # another camera name: fine
        s = storage.get_session(engine, sid)
        assert s is not None and s.status == "running"
    finally:
        w.close()
    assert storage.get_session(engine, sid).status == "ended"


def test_retention_prunes_timeline_keeps_visits(any_db_url: str) -> None:
    engine = storage.open_database(any_db_url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=0.05)
    w.start()
    now = dt.datetime.now(UTC)
    w.add_bucket(storage.TimelineBucket(now - dt.timedelta(days=40), 1, 1, (0.0,) * 7))
    w.add_bucket(storage.TimelineBucket(now - dt.timedelta(hours=1), 1, 1, (0.0,) * 7))
    w.add_visit(visit(1, t0=(now - dt.timedelta(days=40)).timestamp()))
    w.close()
    assert storage.prune_timeline(engine, retention_days=30) == 1
    assert len(storage.session_timeline(engine, sid)) == 1
    assert len(storage.session_visits(engine, sid)) == 1


def test_aggregator_buckets_by_second() -> None:
    agg = storage.TimelineAggregator(lambda t: dt.datetime.fromtimestamp(t, UTC))
    assert agg.add(0.1, [[1, 0, 0, 0, 0, 0, 0]]) is None
    assert agg.add(0.5, [[0, 1, 0, 0, 0, 0, 0]]) is None
    b = agg.add(1.2, [])
    assert b is not None and b.frames == 2 and b.faces == 2 and b.distribution[:2] == (0.5, 0.5)
    last = agg.flush()
    assert last is not None and last.faces == 0 and last.distribution == (0.0,) * 7


def test_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(storage.StorageError, match="damaged|not a database"):
        storage.open_database(f"sqlite:///{path}")


def test_locked_database_keeps_rows_and_writes_them_later(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    engine = storage.open_database(url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=0.05)
    w.start()
    other = sqlite3.connect(tmp_path / "locked.db", timeout=0.1, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the database
    engine.dispose()  # make the writer's next connection hit the lock
    w.add_visit(visit(1))
    # a commit waits 1 s on a lock (SessionWriter.WRITE_TIMEOUT_S): it fails and is kept
    wait_for(lambda: w.last_error is not None, 30)  # a safety net; a loaded machine takes longer than 1 s
    assert w.last_error is not None and "locked" in w.last_error
    threading.Timer(0.2, other.rollback).start()
    w.close()
    other.close()
    assert [v.visit_no for v in storage.session_visits(engine, sid)] == [1]


def test_unreachable_database_rescues_rows_to_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    engine = storage.open_database(url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=0.0, flush_seconds=10, rescue_dir=tmp_path)
    w.start()
    w.add_visit(visit(1))
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # the database path is now a folder: every write fails
    engine.dispose()
    w.close()
    assert w.rescue_file is not None and '"visit"' in w.rescue_file.read_text()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(storage.StorageError, match="cannot"):
        storage.open_database("nosuchdialect://x")


def test_migrations_match_the_models(any_db_url: str) -> None:
    """A column added to the models without a migration would fail here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = storage.open_database(any_db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), storage.Base.metadata) == []


def test_threads_opening_one_new_database_together_all_get_it(tmp_path: Path) -> None:
    """At a monitor's start the writer and the daily-report thread open the same new file at
    once; both migrate it, and SQLite answers "locked" at once to two transactions that both
    read then write, so the program serialises its own openings (without that, about one
    try in two failed here)."""
    errors: list[BaseException] = []
    for attempt in range(10):
        url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
        together = threading.Barrier(2)

        def open_it(url: str = url, together: threading.Barrier = together) -> None:
            together.wait()
            try:
                storage.open_database(url).dispose()
            except storage.StorageError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
