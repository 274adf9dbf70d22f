"""The dashboard's privacy and per-camera settings: blur on and labels off by default, the
customer notice, the area kept per camera in settings.toml (drawn, typed in Settings, or
imported once from the old regions.json), and a bad settings file shown in the window."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor import config
from cafe_monitor.capture import CameraState, Frame
from cafe_monitor.config import Settings, load
from cafe_monitor.domain import Box, Region
from cafe_monitor.paths import data_dir
from cafe_monitor.scoring import Score
from cafe_monitor.session import LiveState
from cafe_monitor.ui.app import MainWindow
from cafe_monitor.ui.dialogs import SettingsDialog


@pytest.fixture
def make_window(qtbot, db_url: str):  # type: ignore[no-untyped-def]
    def make(settings: Settings = Settings(), **kwargs: object) -> MainWindow:
        w = MainWindow(settings, db_url=db_url, **kwargs)  # type: ignore[arg-type]
        qtbot.addWidget(w)
        w.resize(1200, 760)
        w.show()
        return w
    return make


def test_preview_private_by_default_with_the_notice(make_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    w = make_window()
    shown: list[np.ndarray] = []
    monkeypatch.setattr(w.live.video, "show_image", shown.append)
    assert w.live.blur and w.blur_action.isChecked()
    assert not w.live.labels and not w.labels_action.isChecked()
    assert w.live.notice.isVisible() and w.live.notice.text() == Settings().privacy.notice
    image = np.zeros((360, 640, 3), np.uint8)
    image[100:200, 300:400] = np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)
    box = Box(300, 100, 400, 200)  # a detection that was never classified
    w.live.update_state(LiveState(Frame(image, 0, 0.0), [], Score(0, None, None, None, None, None, {}),
                                  CameraState.LIVE, 25, 25, 0, "CPU", {}, 0, None, boxes=[box]))
    def sharpness(a: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(a[100:200, 300:400], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    assert sharpness(shown[0]) < 0.05 * sharpness(image)  # pixelated though never classified
    w.blur_action.setChecked(False)  # for setting up: the last frame is drawn again at once
    assert len(shown) == 2 and sharpness(shown[1]) == pytest.approx(sharpness(image))
    w.labels_action.setChecked(True)
    assert w.live.labels and load(w.settings_file).privacy.show_labels  # persisted


def test_settings_dialog_edits_area_by_numbers_labels_and_notice(qtbot, make_window) -> None:  # type: ignore[no-untyped-def]
    w = make_window()
    d = SettingsDialog(w.settings, w)
    qtbot.addWidget(d)
    d.area["x1"].setValue(0.8)
    d.area["x2"].setValue(0.2)
    d._save()
    assert d.error.text() == "cameras.counter.area x1 = 0.8 must be less than cameras.counter.area x2 = 0.2"
    d.area["x1"].setValue(0.1)
    d.area["y1"].setValue(0.3)
    d.labels.setChecked(True)
    d.notice.setText("Mood measured, no pictures kept")
    d.camera_name.setText("till")
    s = d.build()
    assert s.profile("till").area == Region(0.1, 0.3, 0.2, 1.0) and s.profile("counter").area.is_full
    assert s.privacy.show_labels and s.privacy.notice == "Mood measured, no pictures kept"


def test_settings_saved_from_the_dialog_apply_to_the_window(qtbot, make_window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    w = make_window()
    wanted = w.settings.with_area(Region(0.0, 0.5, 1.0, 1.0))
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: self._save() or 1)
    monkeypatch.setattr(SettingsDialog, "build", lambda self: wanted)
    w.edit_settings()
    assert w.live.region == Region(0.0, 0.5, 1.0, 1.0)
    assert load(w.settings_file).profile().area == Region(0.0, 0.5, 1.0, 1.0)


def test_old_regions_json_is_imported_once_into_settings(make_window) -> None:  # type: ignore[no-untyped-def]
    old = data_dir() / "regions.json"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text(json.dumps({"0": [0.0, 0.3, 1.0, 1.0], "clip.mp4": [0.5, 0.0, 1.0, 1.0]}))
    w = make_window()
    assert w.live.region == Region(0.0, 0.3, 1.0, 1.0)
    assert load(w.settings_file).profile("counter").area == Region(0.0, 0.3, 1.0, 1.0)
    assert not old.exists() and old.with_name("regions.json.imported").exists()


def test_bad_settings_file_is_shown_and_not_overwritten(make_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "settings.toml"
    bad.write_text("[tracker]\nsmoothing = 7\n")
    with pytest.raises(config.ConfigError) as err:
        load(bad)
    w = make_window(settings_file=bad, settings_error=str(err.value))
    assert w.settings_problem.isVisible()
    assert "tracker.smoothing = 7 is out of range (0 < x ≤ 1)" in w.settings_problem.text()
    w.blur_action.setChecked(False)  # a toggle must not write defaults over the user's file
    assert bad.read_text() == "[tracker]\nsmoothing = 7\n"
    assert "Not saved" in w.status.text()
