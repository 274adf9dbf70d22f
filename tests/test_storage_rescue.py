"""Nothing lost: open visits are checkpointed, rows of an outage go to a rescue file as
they queue, and `import` loads that file back, idempotently (issue 15, item 1)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from cafe_monitor import storage
from cafe_monitor.storage import rescue
from cafe_monitor.tracking import Visit
from tests.test_cli import cli
from tests.test_storage import new_session, wait_for

UTC = dt.timezone.utc
ORIGIN = 1_700_000_000.0


def state(no: int, frames: int, happy: float = 1.0) -> Visit:
    """Visit `no` as it stands after `frames` frames (one per 0.1 s)."""
    d = np.zeros(7, np.float32)
    d[3], d[6] = happy, 1.0 - happy
    return Visit(no, 0.0, frames * 0.1, frames, d, float(frames))


def test_open_visit_is_checkpointed_as_one_row_updated_in_place(any_db_url: str) -> None:
    engine = storage.open_database(any_db_url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05)
    w.start()
    try:
        w.checkpoint([state(1, 10, happy=1.0)])
        wait_for(lambda: len(storage.session_visits(engine, sid)) == 1)
        w.checkpoint([state(1, 40, happy=0.5), state(2, 5)])
        wait_for(lambda: [v.frames for v in storage.session_visits(engine, sid)] == [40, 5])
        first = storage.session_visits(engine, sid)[0]
        assert first.visit_no == 1 and first.p_happy == 0.5  # the running distribution, not the first one
        assert storage.as_utc(first.last_seen).timestamp() == ORIGIN + 4.0
    finally:
        w.add_visit(state(1, 50, happy=0.25))  # it ended
        w.close()
    rows = storage.session_visits(engine, sid)
    assert [(v.visit_no, v.frames) for v in rows] == [(1, 50), (2, 5)] and rows[0].p_happy == 0.25


def break_database(path: Path) -> Path:
    """The database file vanishes (a folder takes its place): every write fails."""
    aside = path.with_suffix(".aside")
    path.rename(aside)
    path.mkdir()
    return aside


def test_outage_rows_reach_the_rescue_file_before_close_and_it_goes_when_the_database_is_back(
        tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    engine = storage.open_database(f"sqlite:///{db}")
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05, rescue_dir=tmp_path / "data")
    w.start()
    w.checkpoint([state(1, 10)])
    wait_for(lambda: len(storage.session_visits(engine, sid)) == 1)
    engine.dispose()
    aside = break_database(db)
    w.checkpoint([state(1, 30)])
    w.add_bucket(storage.TimelineBucket(w.to_datetime(2.0), 25, 25, (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)))
    # no close: a crash now must not lose these rows, so they are on disk already
    wait_for(lambda: w.rescue_file is not None and '"timeline"' in w.rescue_file.read_text())
    lines = [json.loads(x) for x in w.rescue_file.read_text().splitlines()]
    assert lines[0]["session"]["site"] == "shop-1" and lines[0]["session"]["id"] == sid
    assert {"visit_no": 1, "frames": 30}.items() <= lines[1]["visit"].items()
    assert rescue.pending_files(tmp_path / "data") == [w.rescue_file]
    rescue_file = w.rescue_file
    # the database comes back: the rows are stored and the rescue file removed
    db.rmdir()
    aside.rename(db)
    wait_for(lambda: w.last_error is None and w.rescue_file is None, 10)
    w.close()
    assert not rescue_file.exists() and rescue.pending_files(tmp_path / "data") == []
    assert [v.frames for v in storage.session_visits(engine, sid)] == [30]
    assert len(storage.session_timeline(engine, sid)) == 1


def test_rescue_file_imports_into_the_database_once(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    url = f"sqlite:///{db}"
    engine = storage.open_database(url)
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05, rescue_dir=tmp_path)
    w.start()
    w.checkpoint([state(1, 10)])
    wait_for(lambda: len(storage.session_visits(engine, sid)) == 1)
    engine.dispose()
    aside = break_database(db)
    w.checkpoint([state(1, 20)])
    w.add_visit(state(1, 30))
    w.add_visit(state(2, 8))
    for second in range(3):
        w.add_bucket(storage.TimelineBucket(w.to_datetime(second), 10, 10, (1.0,) + (0.0,) * 6))
    w.close("ended")
    assert w.rescue_file is not None
    text = w.rescue_file.read_text()
    assert '"end"' in text.splitlines()[-1]
    db.rmdir()
    aside.rename(db)

    first = rescue.import_file(engine, w.rescue_file)  # into the database the session began in
    assert (first.session_id, first.created, first.visits, first.seconds) == (sid, False, 2, 3)
    again = rescue.import_file(engine, w.rescue_file)
    assert (again.visits, again.seconds) == (0, 0)
    rows = storage.session_visits(engine, sid)
    assert [(v.visit_no, v.frames) for v in rows] == [(1, 30), (2, 8)]
    s = storage.get_session(engine, sid)
    assert s is not None and s.status == "ended" and s.frames == 30

    # the same file into another database (e.g. the chain's server): the session is created once
    other = f"sqlite:///{tmp_path / 'other.db'}"
    p = cli("import", str(w.rescue_file), "--db", other)
    assert p.returncode == 0, p.stderr
    assert "2 visits" in p.stdout and "3 seconds" in p.stdout
    assert not w.rescue_file.exists()  # renamed *.imported: the dashboard stops warning
    done = w.rescue_file.with_name(w.rescue_file.name + ".imported")
    assert cli("import", str(done), "--db", other).returncode == 0
    listing = json.loads(cli("sessions", "--json", "--db", other).stdout)
    assert len(listing) == 1 and listing[0]["visits"] == 2 and listing[0]["status"] == "ended"


def test_import_refuses_a_file_that_is_not_a_rescue_file(tmp_path: Path) -> None:
    bad = tmp_path / "unsaved-session-1-1.jsonl"
    bad.write_text('{"hello": 1}\n{"world": 2}\n')
    p = cli("import", str(bad), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert p.returncode != 0 and "not a rescue file" in p.stderr and "Traceback" not in p.stderr


def test_a_rescue_file_creates_its_session_in_another_database_once(any_db_url: str, tmp_path: Path) -> None:
    """The chain's server (PostgreSQL) takes a file a shop wrote while it was unreachable."""
    path = tmp_path / "unsaved-session-41-1764500000.jsonl"
    dist = [0.0, 0.0, 0.0, 0.8, 0.0, 0.0, 0.2]
    lines = [
        {"session": {"id": 41, "site": "leeds", "camera": "till", "started_at": "2026-11-30T08:00:00+00:00",
                     "source": "rtsp://cam:***@10.0.0.5/s1", "model_name": "m", "model_sha256": "0" * 64,
                     "provider": "CPU", "settings": {}}},
        {"visit": {"visit_no": 1, "first_seen": "2026-11-30T08:00:05+00:00", "last_seen": "2026-11-30T08:00:09+00:00",
                   "frames": 40, "distribution": dist}},
        {"timeline": {"at": "2026-11-30T08:00:05+00:00", "frames": 25, "faces": 25, "distribution": dist}},
        {"visit": {"visit_no": 1, "first_seen": "2026-11-30T08:00:05+00:00", "last_seen": "2026-11-30T08:00:20+00:00",
                   "frames": 150, "distribution": dist}},
        {"timeline": {"at": "2026-11-30T08:00:06+00:00", "frames": 25, "faces": 25, "distribution": dist}},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"timeline": {"at": "2026-11-30T08:0')  # cut
    engine = storage.open_database(any_db_url)
    first = rescue.import_file(engine, path)
    assert (first.created, first.visits, first.seconds) == (True, 1, 2)
    again = rescue.import_file(engine, path)
    assert (again.session_id, again.created, again.visits, again.seconds) == (first.session_id, False, 0, 0)
    s = storage.get_session(engine, first.session_id)
    assert s is not None and (s.site, s.camera, s.status, s.frames) == ("leeds", "till", "interrupted", 50)
    [v] = storage.session_visits(engine, first.session_id)
    assert v.frames == 150 and storage.as_utc(v.last_seen) == dt.datetime(2026, 11, 30, 8, 0, 20, tzinfo=UTC)


def test_a_long_outage_writes_one_line_a_second_per_open_visit(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    engine = storage.open_database(f"sqlite:///{db}")
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.2, rescue_dir=tmp_path)
    engine.dispose()
    break_database(db)
    w.start()
    began = time.monotonic()
    for frames in range(10, 50):  # 40 checkpoints of one visit in ~1 s
        w.checkpoint([state(1, frames)])
        time.sleep(0.025)
    w.close()
    rounds = (time.monotonic() - began) / 0.2 + 2  # a busy machine stretches the sleeps: more rounds
    assert w.rescue_file is not None
    visit_lines = [x for x in w.rescue_file.read_text().splitlines() if '"visit"' in x]
    assert 1 <= len(visit_lines) <= min(rounds, 39) and '"frames": 49' in visit_lines[-1]  # a line a round
    # the database was gone before the writer could read its session: the file names it by id only
    db.rmdir()
    db.with_suffix(".aside").rename(db)
    result = rescue.import_file(storage.open_database(f"sqlite:///{db}"), w.rescue_file)
    assert (result.session_id, result.visits) == (sid, 1)
