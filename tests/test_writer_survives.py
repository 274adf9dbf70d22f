"""Weeks unattended (issue 23, point 10): a row that always fails is set aside (rescue file,
log line) and the rest commit; an error of any kind never ends the writer with rows neither
stored nor rescued; `import` never brings back what `delete` removed; a timeline second is
stored once."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from cafe_monitor import storage
from cafe_monitor.storage import housekeeping, rescue
from cafe_monitor.tracking import Visit
from tests.test_storage import new_session, wait_for
from tests.test_storage_rescue import ORIGIN, break_database, state

HAPPY = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def bucket(w: storage.SessionWriter, second: int) -> storage.TimelineBucket:
    return storage.TimelineBucket(w.to_datetime(second), 10, 10, HAPPY)


@pytest.mark.parametrize("bad", [
    Visit(7, 0.0, 1.0, 10, np.full(7, np.nan, np.float32), 10.0),  # NOT NULL refused every time: an SQL error
    Visit(7, 0.0, 1.0, 10, np.zeros(3, np.float32), 10.0),  # a malformed row: a Python error (ValueError)
], ids=["sql-error", "python-error"])
def test_a_row_that_always_fails_is_set_aside_and_the_rest_commit(
        bad: Visit, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = storage.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05, rescue_dir=tmp_path / "data")
    w.start()
    try:
        w.add_visit(bad)
        w.add_visit(state(1, 30))
        w.add_bucket(bucket(w, 0))
        wait_for(lambda: len(storage.session_timeline(engine, sid)) == 1, 10)
        w.add_visit(state(2, 30))  # later rows are not blocked either
        w.add_bucket(bucket(w, 1))
        wait_for(lambda: len(storage.session_timeline(engine, sid)) == 2, 10)
        assert w.is_alive()
    finally:
        w.close()
    assert [v.visit_no for v in storage.session_visits(engine, sid)] == [1, 2]
    assert storage.get_session(engine, sid).status == "ended"
    aside = rescue.pending_files(tmp_path / "data")
    assert len(aside) == 1, aside
    lines = [json.loads(x) for x in aside[0].read_text().splitlines()]
    assert "session" in lines[0] and [x["visit"]["visit_no"] for x in lines if "visit" in x] == [7]
    assert any("set aside" in r.getMessage() and str(aside[0]) in r.getMessage() for r in caplog.records)


def test_a_bug_anywhere_in_the_loop_does_not_end_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = storage.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05, rescue_dir=tmp_path / "data")
    calls = {"n": 0}
    real = w._take

    def flaky(item: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        real(item)  # type: ignore[arg-type]

    monkeypatch.setattr(w, "_take", flaky)
    w.start()
    w.add_bucket(bucket(w, 0))  # lost to the bug (logged), but the writer lives
    w.add_bucket(bucket(w, 1))
    wait_for(lambda: len(storage.session_timeline(engine, sid)) == 1, 10)
    assert w.is_alive()
    w.close()
    assert storage.get_session(engine, sid).status == "ended"


def outage_rescue_file(tmp_path: Path, at: dt.datetime) -> tuple[storage.Engine, int, Path]:
    """A session whose rows of an outage are only in its rescue file; the database is back."""
    db = tmp_path / "shop.db"
    engine = storage.open_database(f"sqlite:///{db}")
    sid = storage.start_session(engine, source="0", site="north", camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={}, started_at=at)
    w = storage.SessionWriter(engine, sid, origin=at.timestamp(), flush_seconds=0.05, rescue_dir=tmp_path / "data")
    w.start()
    w.add_visit(state(1, 10))
    wait_for(lambda: len(storage.session_visits(engine, sid)) == 1)
    engine.dispose()
    aside = break_database(db)
    w.add_visit(state(1, 30))
    w.add_bucket(bucket(w, 2))
    w.close("ended")
    assert w.rescue_file is not None
    db.rmdir()
    aside.rename(db)
    engine = storage.open_database(f"sqlite:///{db}")
    with engine.begin() as c:  # its end is only in the rescue file: closed as after a crash
        c.execute(sa.update(storage.SessionRow).values(status="interrupted"))
    return engine, sid, w.rescue_file


def test_import_never_brings_back_a_deleted_session(tmp_path: Path) -> None:
    at = dt.datetime(2026, 11, 28, 9, tzinfo=dt.timezone.utc)
    engine, sid, path = outage_rescue_file(tmp_path, at)
    housekeeping.delete_session(engine, sid)
    r = rescue.import_file(engine, path)
    assert r.visits == 0 and r.seconds == 0 and r.deleted
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(storage.SessionRow)).scalar() == 0
        assert c.execute(sa.select(sa.func.count()).select_from(storage.VisitRow)).scalar() == 0


def test_import_never_brings_back_rows_of_a_deleted_day(tmp_path: Path) -> None:
    at = dt.datetime(2026, 11, 28, 9, tzinfo=dt.timezone.utc)
    engine, _sid, path = outage_rescue_file(tmp_path, at)
    housekeeping.delete_between(engine, at - dt.timedelta(hours=1), at + dt.timedelta(hours=1), "north")
    r = rescue.import_file(engine, path)
    assert r.visits == 0 and r.seconds == 0
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(storage.VisitRow)).scalar() == 0
        assert c.execute(sa.select(sa.func.count()).select_from(storage.TimelineRow)).scalar() == 0


def test_import_keeps_nothing_past_retention(tmp_path: Path) -> None:
    """Rows of an outage 40 days ago, imported today: the per-second rows are past the default
    30 days' retention and go again at once; visits are kept (visit_retention_days = 0)."""
    from tests.test_cli import cli

    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    engine, sid, path = outage_rescue_file(tmp_path, at)
    p = cli("import", str(path), "--db", f"sqlite:///{tmp_path / 'shop.db'}")
    assert p.returncode == 0, p.stderr
    assert "past retention ([privacy] retention_days = 30, visit_retention_days = 0), removed again: " \
           "0 sessions, 0 visits, 1 timeline second" in p.stdout
    assert storage.session_timeline(engine, sid) == []
    assert [v.frames for v in storage.session_visits(engine, sid)] == [30]  # the visit's rescued state


def test_a_timeline_second_is_stored_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = storage.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05, rescue_dir=tmp_path / "data")
    w.start()
    w.add_bucket(bucket(w, 0))
    wait_for(lambda: len(storage.session_timeline(engine, sid)) == 1)
    w.add_bucket(bucket(w, 0))  # the same second again (a retry that had in fact committed)
    w.add_bucket(bucket(w, 1))
    w.add_bucket(bucket(w, 1))
    wait_for(lambda: len(storage.session_timeline(engine, sid)) == 2)
    w.close()
    assert [storage.as_utc(t.at) for t in storage.session_timeline(engine, sid)] == [w.to_datetime(0), w.to_datetime(1)]
    assert rescue.pending_files(tmp_path / "data") == []
    with caplog.at_level(logging.ERROR), pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(sa.insert(storage.TimelineRow).values(session_id=sid, at=w.to_datetime(1), frames=1, faces=1,
                                                        **{f"p_{k}": 0.0 for k in
                                                           ("angry", "disgust", "fear", "happy", "sad",
                                                            "surprise", "neutral")}))


def test_the_migration_keeps_one_row_of_each_duplicated_second(tmp_path: Path) -> None:
    from alembic import command

    from cafe_monitor.migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    command.upgrade(alembic_config(engine), "0007")
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO sessions (started_at, status, source, site, camera, model_name, model_sha256, "
                          "provider, settings, frames) VALUES ('2026-01-01 00:00:00', 'ended', '0', 'main', "
                          "'counter', 'm', '0', 'cpu', '{}', 0)"))
        for frames in (5, 6, 7):
            c.execute(sa.text("INSERT INTO timeline (session_id, at, frames, faces, p_angry, p_disgust, p_fear, "
                              "p_happy, p_sad, p_surprise, p_neutral) VALUES (1, '2026-01-01 00:00:01', :f, 1, "
                              "0, 0, 0, 1, 0, 0, 0)"), {"f": frames})
    engine.dispose()
    engine = storage.open_database(url)
    assert [t.frames for t in storage.session_timeline(engine, 1)] == [5]
