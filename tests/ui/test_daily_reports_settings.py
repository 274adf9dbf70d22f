"""The dashboard's daily reports follow Settings: a new database, reports folder, site or zone
applies to the next day's report at once, not after a restart."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from cafe_monitor.config import ReportSettings, Settings
from cafe_monitor.ui.app import MainWindow


class Saved:
    """The Settings dialog, answered with `result_settings`."""

    result_settings: Settings

    def __init__(self, *args: object) -> None:
        pass

    def exec(self) -> bool:
        return True


def test_reports_restart_with_new_settings_and_only_then(qtbot, db_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    base = dataclasses.replace(Settings(), reports=ReportSettings(folder=str(tmp_path / "a")))
    window = MainWindow(base, db_url=db_url)
    qtbot.addWidget(window)
    monkeypatch.setattr("cafe_monitor.ui.app.SettingsDialog", Saved)
    window.start_daily_reports()
    try:
        first = window.daily_reports
        assert first is not None and first.is_alive()
        assert first.folder == tmp_path / "a"

        Saved.result_settings = dataclasses.replace(
            base, privacy=dataclasses.replace(base.privacy, show_labels=True))  # nothing reports use
        window.edit_settings()
        assert window.daily_reports is first

        Saved.result_settings = dataclasses.replace(base, reports=ReportSettings(folder=str(tmp_path / "b")))
        window.edit_settings()
        second = window.daily_reports
        assert second is not None and second is not first and second.is_alive()
        qtbot.waitUntil(lambda: not first.is_alive(), timeout=30000)  # ends by itself: the window never waits on it
        assert second.folder == tmp_path / "b"
    finally:
        window.stop_daily_reports()
    assert window.daily_reports is None


def test_opening_the_database_for_reports_never_blocks_the_window(qtbot, db_url: str,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The day-end thread's database open (connect timeout, migrations, integrity check) runs
    in that thread: while it is stuck, the Qt event loop keeps ticking. Measured by a QTimer's
    ticks, not by the wall clock."""
    from PyQt6.QtCore import QTimer

    from cafe_monitor import storage

    real = storage.open_database
    inside, release = threading.Event(), threading.Event()
    opened_in: list[str] = []

    def slow_open(url: str, **kw: object) -> storage.Engine:
        opened_in.append(threading.current_thread().name)
        inside.set()
        release.wait(20)  # a server that does not answer; the test releases it
        return real(url)

    window = MainWindow(Settings(), db_url=db_url)
    qtbot.addWidget(window)
    monkeypatch.setattr(storage, "open_database", slow_open)
    ticks = [0]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(5)
    try:
        window.start_daily_reports()
        assert not release.is_set()
        qtbot.waitUntil(inside.is_set)
        at_entry = ticks[0]
        qtbot.waitUntil(lambda: ticks[0] >= at_entry + 5)  # the loop runs while the open is stuck
        assert inside.is_set() and not release.is_set() and "MainThread" not in opened_in
        release.set()
        thread = window.daily_reports
        assert thread is not None
        qtbot.waitUntil(lambda: thread.checks >= 1, timeout=30_000)
    finally:
        release.set()
        timer.stop()
        window.stop_daily_reports()
