"""The first start: with no settings file the dashboard asks for camera, café, zone, day start,
privacy and retention, and writes settings.toml through cafe_monitor.config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PyQt6.QtCore import QTime, QTimer
from PyQt6.QtWidgets import QApplication, QLabel

from cafe_monitor import config
from cafe_monitor.cameras import Device, Mode
from cafe_monitor.paths import settings_path
from cafe_monitor.ui import first_start
from cafe_monitor.ui.first_start import FirstStartDialog

DEVICES = [Device(0, "Integrated Camera"), Device(2, "HD Pro Webcam C920")]


def dialog(qtbot, path: Path) -> FirstStartDialog:  # type: ignore[no-untyped-def]
    d = FirstStartDialog(config.Settings(), path, list_devices=lambda: DEVICES,
                         modes_of=lambda i: [Mode(1280, 720, (30,))])
    qtbot.addWidget(d)
    return d


def test_choices_are_written_to_settings_toml(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "settings.toml"
    d = dialog(qtbot, path)
    d.camera.device.setCurrentIndex(1)
    d.site.setText("high-street")
    d.time_zone.setCurrentText("Europe/Paris")
    d.day_start.setTime(QTime(5, 0))
    d.blur.setChecked(False)
    d.notice.setText("Cameras measure moods; no images are kept.")
    d.retention.setValue(14)
    d.save_button.click()
    assert d.result() == FirstStartDialog.DialogCode.Accepted
    saved = config.load(path)
    assert saved == d.result_settings
    assert saved.camera.source == "2" and saved.storage.site == "high-street"
    assert saved.storage.time_zone == "Europe/Paris" and saved.storage.business_day_start == "05:00"
    assert not saved.privacy.blur_preview and saved.privacy.retention_days == 14
    assert saved.privacy.notice == "Cameras measure moods; no images are kept."
    assert saved.tracker == config.Settings().tracker  # what was not asked keeps its default


def test_a_bad_choice_is_named_and_nothing_written(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "settings.toml"
    d = dialog(qtbot, path)
    d.time_zone.setCurrentText("Mars/Olympus")
    d.save_button.click()
    assert "storage.time_zone" in d.error.text() and not path.exists() and d.isVisible() is not None
    assert d.result_settings is None


def test_defaults_shown_and_where_data_lives_said(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = dialog(qtbot, tmp_path / "settings.toml")
    assert d.blur.isChecked() and d.retention.value() == config.PrivacySettings().retention_days
    assert d.time_zone.currentText()  # the computer's zone, by name
    texts = " ".join(w.text() for w in d.findChildren(QLabel))
    assert str(tmp_path / "settings.toml") in texts and "cafe_monitor.db" in texts
    assert "No image or video is ever stored" in texts


def test_needed_only_without_a_settings_file(tmp_path: Path) -> None:
    assert first_start.needed(None, None)
    assert not first_start.needed(tmp_path / "given.toml", None)  # --config: never replaced
    assert not first_start.needed(None, "settings.toml: bad key")  # a broken file is shown, not replaced
    config.save(config.Settings(), settings_path())
    assert not first_start.needed(None, None)


@pytest.mark.parametrize("save", [True, False])
def test_run_returns_what_was_saved_or_the_defaults(qtbot, save: bool) -> None:  # type: ignore[no-untyped-def]
    def answer() -> None:
        d = next(w for w in QApplication.topLevelWidgets()
                 if isinstance(w, FirstStartDialog) and w.isVisible())
        d.site.setText("corner")
        (d.save_button if save else d.later_button).click()

    QTimer.singleShot(200, answer)
    settings = first_start.run(config.Settings())
    assert settings.storage.site == ("corner" if save else "main")
    assert settings_path().exists() is save


def test_screenshot(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The dialog as a user sees it; CAFE_SCREENSHOTS=1 writes docs/screenshots/first_start.png."""
    home = Path("/home/barista/.local/share/cafe-monitor")
    monkeypatch.setattr(first_start, "default_db_url", lambda: f"sqlite:///{home / 'cafe_monitor.db'}")
    d = FirstStartDialog(config.Settings(), home / "settings.toml", list_devices=lambda: DEVICES,
                         modes_of=lambda i: [])
    qtbot.addWidget(d)
    d.time_zone.setCurrentText("Europe/London")
    d.show()
    qtbot.wait(100)
    image = d.grab()
    assert 600 <= image.width() <= 1000 and image.height() <= 900  # fits a small counter screen
    out = (Path(__file__).resolve().parents[2] / "docs" / "screenshots" if os.environ.get("CAFE_SCREENSHOTS")
           else tmp_path)
    assert image.save(str(out / "first_start.png"))

