"""Secrets on disk are the owner's alone (issue 23, point 4): settings (a database password),
the SQLite database with its -wal/-shm, rescue files and reports are created 0600 in 0700
folders, and every save keeps it so."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cafe_monitor import config, daily_reports, reports, storage
from cafe_monitor.config import Settings
from cafe_monitor.paths import data_dir
from cafe_monitor.storage.queries import Counter
from tests.test_storage_rescue import ORIGIN, break_database, new_session, state

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def _open_umask() -> Iterator[None]:
    """The common default: files 0644, folders 0755, unless the program says otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_settings_are_saved_owner_only_and_stay_so(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "settings.toml"
    s = Settings()
    s = dataclasses.replace(s, storage=dataclasses.replace(s.storage, url="postgresql://cafe:S3cret@db/cafe"))
    config.save(s, path)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    path.chmod(0o644)  # an old install's file
    config.save(s, path)  # a toggle in the dashboard
    assert mode(path) == 0o600
    config.save(s, path)
    assert mode(path) == 0o600 and config.load(path).storage.url == s.storage.url
    assert [p.name for p in path.parent.iterdir()] == ["settings.toml"]  # no temp file left


def test_the_data_folder_is_owner_only() -> None:
    folder = data_dir()
    folder.chmod(0o755)
    assert mode(data_dir()) == 0o700


def test_sqlite_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "data" / "cafe_monitor.db"
    engine = storage.open_database(f"sqlite:///{db}")
    new_session(engine)
    with engine.connect() as c:  # keeps -wal and -shm while open
        c.execute(text("SELECT count(*) FROM sessions")).scalar()
        files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
        assert {p.name for p in files} >= {db.name, f"{db.name}-wal", f"{db.name}-shm"}
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(db.parent) == 0o700
    engine.dispose()


def test_an_old_world_readable_database_is_restricted_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "cafe_monitor.db"
    storage.open_database(f"sqlite:///{db}").dispose()
    db.chmod(0o644)
    storage.open_database(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_rescue_files_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    engine = storage.open_database(f"sqlite:///{db}")
    sid = new_session(engine)
    w = storage.SessionWriter(engine, sid, origin=ORIGIN, flush_seconds=0.05, rescue_dir=tmp_path / "rescue")
    engine.dispose()
    break_database(db)
    w.start()
    w.add_visit(state(1, 30))
    w.close("ended")
    assert w.rescue_file is not None
    assert mode(w.rescue_file) == 0o600 and mode(w.rescue_file.parent) == 0o700


def test_reports_and_their_ledger_are_owner_only(tmp_path: Path, db_url: str) -> None:
    engine = storage.open_database(db_url)
    new_session(engine)
    day = dt.date.today().isoformat()
    data = reports.day_report(engine, day, Settings().score.to_config(), None, Counter(site="shop-1"))
    out = tmp_path / "reports"
    written = reports.write(data, ["pdf", "csv", "json"], out)
    assert len(written) == 4
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
    assert mode(out) == 0o700
    daily_reports._record(out, "shop-1", dt.date.today(), "1 visits, 3 frames, 1 s, 1 sessions")
    assert mode(out / daily_reports.LEDGER) == 0o600
