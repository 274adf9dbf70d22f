"""Deleting on request: `cafe-monitor delete --session ID | --day DATE [--site S]`, asking
first unless --yes (issue 15, item 7)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cafe_monitor import storage
from tests.test_cli import REPO
from tests.test_storage import recorded_session, visit

UTC = dt.timezone.utc
# 02:00 in Los Angeles on 30 Nov is still the business day of 29 Nov (day starts 04:00)
NIGHT = dt.datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
NEXT_AFTERNOON = dt.datetime(2026, 11, 30, 22, 0, tzinfo=UTC)  # 14:00 on 30 Nov in LA


def record(engine: storage.Engine, site: str, at: dt.datetime) -> int:
    return recorded_session(engine, site, at, dt.timedelta(minutes=30))


def delete(*args: str, answer: str | None = None, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cafe_monitor", *(["--config", str(config)] if config else []), "delete", *args]
    return subprocess.run(cmd, input=answer, capture_output=True, text=True, cwd=REPO, timeout=120,
                          env=dict(os.environ))


@pytest.fixture
def la_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "settings.toml"
    cfg.write_text('[storage]\ntime_zone = "America/Los_Angeles"\nbusiness_day_start = "04:00"\n')
    return cfg


def test_delete_a_session_asks_first(db_url: str) -> None:
    engine = storage.open_database(db_url)
    keep, gone = record(engine, "north", NIGHT), record(engine, "north", NEXT_AFTERNOON)
    p = delete("--session", str(gone), "--db", db_url, answer="n\n")
    assert p.returncode == 1 and "1 visit, 1 timeline second" in p.stdout and "nothing deleted" in p.stdout
    assert storage.get_session(engine, gone) is not None
    p = delete("--session", str(gone), "--db", db_url, answer="")  # no answer (EOF): no
    assert p.returncode == 1 and storage.get_session(engine, gone) is not None
    p = delete("--session", str(gone), "--db", db_url, answer="y\n")
    assert p.returncode == 0 and f"deleted session {gone}: 1 session, 1 visit, 1 timeline second" in p.stdout
    assert storage.get_session(engine, gone) is None and storage.session_visits(engine, gone) == []
    assert storage.session_timeline(engine, gone) == []
    assert storage.get_session(engine, keep) is not None
    p = delete("--session", "999", "--db", db_url, "--yes")
    assert p.returncode == 2 and "no session 999" in p.stderr


def test_delete_a_business_day_of_one_site(db_url: str, la_config: Path) -> None:
    engine = storage.open_database(db_url)
    north_night, south_night = record(engine, "north", NIGHT), record(engine, "south", NIGHT)
    north_next = record(engine, "north", NEXT_AFTERNOON)
    p = delete("--day", "2026-11-29", "--site", "north", "--db", db_url, "--yes", config=la_config)
    assert p.returncode == 0, p.stderr
    assert "business day 2026-11-29 (America/Los_Angeles) of site north" in p.stdout
    assert storage.get_session(engine, north_night) is None  # 02:00 local belongs to the 29th
    assert storage.get_session(engine, south_night) is not None  # another site
    assert storage.get_session(engine, north_next) is not None  # the 30th
    p = delete("--day", "2026-11-30", "--db", db_url, "--yes", config=la_config)  # every site
    assert p.returncode == 0 and storage.get_session(engine, north_next) is None
    assert storage.get_session(engine, south_night) is not None
    assert delete("--day", "30/11/2026", "--db", db_url, "--yes").returncode == 2


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30  # a safety net; the tests wait on the rows themselves
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def stored(engine: storage.Engine, sid: int) -> list[int]:
    return sorted(v.visit_no for v in storage.session_visits(engine, sid))


@pytest.mark.parametrize("what", ["day", "session"])
def test_deleting_while_monitoring_runs(db_url: str, what: str) -> None:
    """A day (or the session itself) is deleted while its session records: the rows go, the
    session goes on, and its later writes neither fail nor bring a deleted visit back (the
    customer still in view when the deletion ran keeps being checkpointed)."""
    engine = storage.open_database(db_url)
    origin = dt.datetime.now(UTC).timestamp() - 60
    sid = storage.start_session(engine, source="0", site="north", camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={})
    w = storage.SessionWriter(engine, sid, origin=origin, flush_seconds=0.05)
    w.start()
    try:
        w.add_visit(visit(1))  # ended
        w.checkpoint([visit(2, t0=10.0)])  # still in view
        w.add_bucket(storage.TimelineBucket(w.to_datetime(5.0), 25, 1, (0.0,) * 7))
        wait_until(lambda: stored(engine, sid) == [1, 2], "the first rows stored")
        if what == "day":
            start = w.to_datetime(0.0) - dt.timedelta(hours=1)
            removed = storage.delete_between(engine, start, start + dt.timedelta(hours=2), "north")
        else:
            removed = storage.delete_session(engine, sid)
        assert (removed.visits, removed.seconds, removed.sessions) == (2, 1, 0)  # the live session's row stays
        assert stored(engine, sid) == [] and storage.session_timeline(engine, sid) == []
        w.checkpoint([visit(2, t0=10.0)])  # the same customer, later: a deleted visit
        w.add_visit(visit(3, t0=50.0))  # a new customer after the deletion
        wait_until(lambda: stored(engine, sid) == [3], "the new visit stored")
        w.checkpoint([visit(2, t0=10.0)])
        w.add_visit(visit(4, t0=55.0))
        wait_until(lambda: stored(engine, sid) == [3, 4], "a later visit stored")
        assert w.last_error is None and w.rescue_file is None
    finally:
        w.close("ended")
    row = storage.get_session(engine, sid)
    assert row is not None and row.status == "ended" and stored(engine, sid) == [3, 4]
    assert storage.delete_session(engine, sid).sessions == 1  # ended: deleted whole
