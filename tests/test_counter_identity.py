"""Cloned counters told apart (issue 23, point 9): two machines with the same host name and
a copied settings.toml each keep their own random counter id in their data folder; a
session recorded by the other one is never taken for this one's crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from cafe_monitor import storage
from cafe_monitor.counter_identity import counter_id
from tests.test_storage import new_session


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def as_if_its_process_died(engine: storage.Engine, sid: int) -> None:
    import socket

    with engine.begin() as c:
        c.execute(update(storage.SessionRow).where(storage.SessionRow.id == sid)
                  .values(recorder=f"{socket.gethostname()}:{dead_pid()}"))


def test_a_clone_with_the_same_host_name_is_not_taken_for_a_crash(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = storage.open_database(db_url)
    monkeypatch.setenv("CAFE_MONITOR_HOME", str(tmp_path / "machine-a"))
    sid = new_session(engine)  # machine A records now; its pid means nothing on machine B
    as_if_its_process_died(engine, sid)
    monkeypatch.setenv("CAFE_MONITOR_HOME", str(tmp_path / "machine-b"))
    with pytest.raises(storage.CounterBusyError, match="another counter"):
        storage.mark_interrupted(engine, "shop-1", "counter")
    assert storage.get_session(engine, sid).status == "running"


def test_a_crash_on_this_machine_is_still_closed(db_url: str) -> None:
    engine = storage.open_database(db_url)
    sid = new_session(engine)
    as_if_its_process_died(engine, sid)
    assert storage.mark_interrupted(engine, "shop-1", "counter") == 1
    assert storage.get_session(engine, sid).status == "interrupted"


def test_the_counter_id_is_random_kept_in_the_data_folder_and_recorded(db_url: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from cafe_monitor.paths import data_dir, settings_path

    first = counter_id()
    assert len(first) == 32 and counter_id() == first
    path = data_dir() / "counter-id"
    assert path.read_text().strip() == first
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0
    assert not settings_path().exists() or first not in settings_path().read_text()
    monkeypatch.setenv("CAFE_MONITOR_HOME", str(tmp_path / "other"))
    assert counter_id() != first
    engine = storage.open_database(db_url)
    row = storage.get_session(engine, new_session(engine))
    assert row is not None and row.counter_id == counter_id()
