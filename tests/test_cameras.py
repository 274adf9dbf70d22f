"""Cameras by name: sysfs names, v4l2-ctl modes (text in v4l2-ctl's layouts, no camera
needed), the saved capture mode asked of the device."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import pytest

from cafe_monitor import cameras, capture
from cafe_monitor.cameras import Device, Mode
from cafe_monitor.config import CameraProfile, Settings, StorageSettings

FIXTURES = Path(__file__).parent / "fixtures" / "v4l2"


def test_formats_merge_pixel_formats_largest_first() -> None:
    modes = cameras.parse_formats((FIXTURES / "usb_webcam.txt").read_text())
    assert modes == [Mode(1920, 1080, (30, 5)), Mode(1280, 720, (30, 15, 10, 5)), Mode(640, 480, (30, 24, 15))]
    assert modes[1].label == "1280x720"


def test_formats_in_the_older_layout() -> None:
    modes = cameras.parse_formats((FIXTURES / "old_layout.txt").read_text())
    assert modes == [Mode(800, 600, (30, 25, 15)), Mode(640, 480, (30, 15))]


def test_stepwise_sizes_offer_the_common_sizes_inside_the_range() -> None:
    modes = cameras.parse_formats((FIXTURES / "stepwise.txt").read_text())
    sizes = [(m.width, m.height) for m in modes]
    assert sizes == [(1920, 1080), (1280, 720), (1024, 768), (800, 600), (640, 480), (640, 360), (320, 240)]
    assert modes[0].rates == (30, 25, 20, 15, 10, 5)  # YU12 only: 1-30 fps
    assert modes[1].rates[0] == 60  # MJPG reaches 60 fps at 1280x720


def test_a_metadata_node_has_no_modes() -> None:
    assert cameras.parse_formats((FIXTURES / "metadata_node.txt").read_text()) == []


def test_sysfs_keeps_each_devices_picture_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for node, name, index in (("video0", "Integrated Camera: Integrated C\n", "0\n"),
                              ("video1", "Integrated Camera: Integrated C\n", "1\n"),  # its metadata node
                              ("video2", "HD Pro Webcam C920\n", "0\n"), ("video10", "bcm2835-isp\n", "0\n")):
        (tmp_path / node).mkdir()
        (tmp_path / node / "name").write_text(name)
        (tmp_path / node / "index").write_text(index)
    monkeypatch.setattr(cameras.sys, "platform", "linux")
    devices = cameras.list_devices(tmp_path)
    assert devices == [Device(0, "Integrated Camera: Integrated C"), Device(2, "HD Pro Webcam C920"),
                       Device(10, "bcm2835-isp")]
    assert devices[1].label == "HD Pro Webcam C920 (2)" and devices[1].source == "2"


def test_without_sysfs_indices_are_offered(tmp_path: Path) -> None:
    devices = cameras.list_devices(tmp_path / "missing")
    assert [d.source for d in devices] == ["0", "1", "2", "3"] and devices[0].name == "Camera 0"
    assert devices[2].label == "Camera 2"  # not "Camera 2 (2)"


def test_v4l2_ctl_is_asked_for_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, (FIXTURES / "old_layout.txt").read_text(), "")

    monkeypatch.setattr(cameras.shutil, "which", lambda _: "/usr/bin/v4l2-ctl")
    assert cameras.v4l2_modes(2, run=run) == [Mode(800, 600, (30, 25, 15)), Mode(640, 480, (30, 15))]
    assert calls == [["/usr/bin/v4l2-ctl", "-d", "/dev/video2", "--list-formats-ext"]]
    monkeypatch.setattr(cameras.shutil, "which", lambda _: None)
    assert cameras.v4l2_modes(2, run=run) is None  # not installed: the caller probes with OpenCV


def test_saved_mode_applies_to_its_own_source_only() -> None:
    profile = CameraProfile(source="2", width=1280, height=720, fps=30)
    assert cameras.mode_for(profile, "2") == (1280, 720, 30) and cameras.mode_for(profile, 2) == (1280, 720, 30)
    assert cameras.mode_for(profile, "0") == (0, 0, 0)  # another device: its own default
    assert cameras.mode_for(CameraProfile(width=640, height=480), "0") == (640, 480, 0)


class _Cap:
    def __init__(self, source: object) -> None:
        self.source, self.props = source, {}  # type: ignore[var-annotated]

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True


def test_the_session_asks_the_camera_for_its_saved_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture.cv2, "VideoCapture", _Cap)
    settings = Settings(storage=StorageSettings(camera_name="seating"),
                        cameras={"seating": CameraProfile(source="1", width=1280, height=720, fps=25)})
    cap = cameras.opener_for(settings, "1")(1)
    assert cap.props == {cv2.CAP_PROP_FRAME_WIDTH: 1280, cv2.CAP_PROP_FRAME_HEIGHT: 720,  # type: ignore[attr-defined]
                         cv2.CAP_PROP_FPS: 25}
    assert cameras.opener_for(settings, "clip.mp4")("clip.mp4").props == {}  # type: ignore[attr-defined]
    assert cameras.opener_for(Settings(), 1)(1).props == {}  # type: ignore[attr-defined]  # no profile: default
