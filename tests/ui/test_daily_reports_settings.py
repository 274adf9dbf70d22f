"""The dashboard's daily reports follow Settings: a new database, reports folder, site or zone
applies to the next day's report at once, not after a restart."""

from __future__ import annotations

import dataclasses
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
        assert first.reporter.folder == tmp_path / "a"

        Saved.result_settings = dataclasses.replace(
            base, privacy=dataclasses.replace(base.privacy, show_labels=True))  # nothing reports use
        window.edit_settings()
        assert window.daily_reports is first

        Saved.result_settings = dataclasses.replace(base, reports=ReportSettings(folder=str(tmp_path / "b")))
        window.edit_settings()
        second = window.daily_reports
        assert second is not None and second is not first and second.is_alive() and not first.is_alive()
        assert second.reporter.folder == tmp_path / "b"
    finally:
        window.stop_daily_reports()
    assert window.daily_reports is None
