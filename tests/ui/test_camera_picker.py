"""The camera picker: devices by name, their sizes and rates, the choice saved per camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from cafe_monitor import config
from cafe_monitor.cameras import Device, Mode
from cafe_monitor.config import CameraProfile, CameraSettings, Settings, StorageSettings
from cafe_monitor.ui.app import MainWindow
from cafe_monitor.ui.camera_picker import CameraPicker

DEVICES = [Device(0, "Integrated Camera"), Device(2, "HD Pro Webcam C920")]
C920 = [Mode(1920, 1080, (30, 15)), Mode(1280, 720, (30, 15)), Mode(640, 480, (30,))]


def picker(qtbot, settings: Settings = Settings()) -> tuple[CameraPicker, list[int]]:  # type: ignore[no-untyped-def]
    probed: list[int] = []

    def modes_of(index: int) -> list[Mode]:
        probed.append(index)
        return C920 if index == 2 else [Mode(640, 480, (30,))]

    p = CameraPicker(settings, list_devices=lambda: DEVICES, modes_of=modes_of)
    qtbot.addWidget(p)
    return p, probed


def items(combo) -> list[str]:  # type: ignore[no-untyped-def]
    return [combo.itemText(i) for i in range(combo.count())]


def test_devices_by_name_with_their_sizes_and_rates(qtbot) -> None:  # type: ignore[no-untyped-def]
    p, probed = picker(qtbot)
    assert items(p.device) == ["Integrated Camera (0)", "HD Pro Webcam C920 (2)"]
    assert p.source() == "0" and probed == []  # nothing is probed until someone picks
    p.device.setCurrentIndex(1)
    p.device.activated.emit(1)
    qtbot.waitUntil(lambda: p.size_choice.count() == 4, timeout=5000)
    assert probed == [2] and items(p.size_choice) == ["device default", "1920x1080", "1280x720", "640x480"]
    p.size_choice.setCurrentIndex(2)
    assert items(p.fps_choice) == ["device default", "30 fps", "15 fps"]
    p.fps_choice.setCurrentIndex(2)
    assert p.source() == "2" and p.mode() == (1280, 720, 15)
    saved = p.remembered(Settings(storage=StorageSettings(camera_name="till")))
    assert saved.profile("till") == CameraProfile(source="2", width=1280, height=720, fps=15)


def test_a_stream_url_typed_in_keeps_its_own_size(qtbot) -> None:  # type: ignore[no-untyped-def]
    p, probed = picker(qtbot)
    p.device.setEditText("rtsp://cam.local/stream")
    assert p.source() == "rtsp://cam.local/stream" and items(p.size_choice) == ["device default"]
    settings = Settings()
    assert p.remembered(settings) is settings and probed == []


def test_the_saved_mode_is_shown_without_probing(qtbot) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(camera=CameraSettings(source="2"),
                        cameras={"counter": CameraProfile(source="2", width=1280, height=720, fps=30)})
    p, probed = picker(qtbot, settings)
    assert p.device.currentText() == "HD Pro Webcam C920 (2)" and p.mode() == (1280, 720, 30) and probed == []
    p.size_choice.about_to_show.emit()  # opening the size list reads the device's modes
    qtbot.waitUntil(lambda: p.size_choice.count() == 4, timeout=5000)
    assert p.mode() == (1280, 720, 30)  # the choice survives the fuller list
    p.set_running(True)
    assert not p.device.isEnabled() and not p.size_choice.isEnabled()


def test_starting_saves_the_choice_in_the_cameras_table(qtbot, db_url: str, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    window = MainWindow(Settings(), db_url=db_url, settings_file=tmp_path / "settings.toml")
    qtbot.addWidget(window)
    started: list[str] = []
    monkeypatch.setattr(window, "start", started.append)
    window.camera_picker._fill_sizes([Mode(1280, 720, (30, 15))])
    window.camera_picker.size_choice.setCurrentIndex(1)
    window.camera_picker.fps_choice.setCurrentIndex(1)
    window.start_action.trigger()
    assert started == ["0"]
    saved = config.load(tmp_path / "settings.toml")
    assert saved.profile("counter") == CameraProfile(source="0", width=1280, height=720, fps=30)
    assert window.settings == saved  # the session opens the device with it (cameras.opener_for)
