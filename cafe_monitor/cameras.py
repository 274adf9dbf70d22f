"""Cameras by name: which capture devices this computer has, and the sizes and frame rates
each offers, so the picker says "Logitech C920 (1280x720, 30 fps)" rather than "1".

Linux names devices in sysfs (/sys/class/video4linux/videoN/name; N is the index OpenCV
opens). A webcam often has two nodes, the picture and a metadata stream; only the first
node of a device (`index` 0) captures pictures. Modes come from `v4l2-ctl
--list-formats-ext` (package v4l-utils) when it is installed: it asks the driver, costs
milliseconds and never opens the stream. Without it, `probe_modes` asks the device
through OpenCV for a short list of common sizes and keeps the ones it accepts (slower,
and the camera must be free). Other systems have no name list OpenCV can read, so indices
0-3 are offered as "Camera N".

The parsing functions are pure and tested on captured text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cafe_monitor.capture import Opener
    from cafe_monitor.config import CameraProfile, Settings

SYSFS = Path("/sys/class/video4linux")
#: sizes probed through OpenCV when v4l2-ctl is missing (largest first)
COMMON_SIZES = ((1920, 1080), (1280, 720), (1024, 768), (800, 600), (640, 480), (640, 360), (320, 240))


@dataclass(frozen=True)
class Mode:
    """One capture size and the frame rates the device offers at it (highest first)."""

    width: int
    height: int
    rates: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class Device:
    """A capture device: the index OpenCV opens (the source "N") and its name."""

    index: int
    name: str
    modes: tuple[Mode, ...] = field(default=(), compare=False)

    @property
    def source(self) -> str:
        return str(self.index)

    @property
    def label(self) -> str:
        """The name and the index to type elsewhere ("HD Webcam (2)"), or the bare "Camera 2"."""
        return self.name if self.name == f"Camera {self.index}" else f"{self.name} ({self.index})"


# --- parsing (pure) -------------------------------------------------------------

_FORMAT = re.compile(r"^\s*(?:\[\d+\]:|Pixel Format\s*:)\s*'(?P<fourcc>[^']*)'")
_SIZE_DISCRETE = re.compile(r"^\s*Size:\s*Discrete\s+(?P<w>\d+)x(?P<h>\d+)")
_SIZE_RANGE = re.compile(r"^\s*Size:\s*(?:Stepwise|Continuous)\s+(?P<w0>\d+)x(?P<h0>\d+)\s*-\s*(?P<w1>\d+)x(?P<h1>\d+)")
_INTERVAL_DISCRETE = re.compile(r"^\s*Interval:\s*Discrete\s+[\d.]+s\s*\((?P<fps>[\d.]+)\s*fps\)")
_INTERVAL_RANGE = re.compile(r"^\s*Interval:\s*(?:Stepwise|Continuous)\s+(?P<short>[\d.]+)s\s*-\s*(?P<long>[\d.]+)s")
#: frame rates offered from a continuous range (a driver that accepts any rate in it)
COMMON_RATES = (60, 30, 25, 20, 15, 10, 5)


def parse_formats(text: str) -> list[Mode]:
    """Sizes and frame rates from `v4l2-ctl --list-formats-ext` (both the `[0]: 'MJPG'` layout
    of v4l-utils >= 1.14 and the older `Pixel Format: 'MJPG'` one), merged over pixel formats:
    a size offered at 30 fps in MJPG and 10 fps in YUYV is offered at both. Stepwise sizes
    are offered as the common sizes inside their range. Largest size first."""
    rates: dict[tuple[int, int], set[int]] = {}
    current: list[tuple[int, int]] = []
    for line in text.splitlines():
        if _FORMAT.match(line):
            current = []
        elif m := _SIZE_DISCRETE.match(line):
            current = [(int(m["w"]), int(m["h"]))]
            rates.setdefault(current[0], set())
        elif m := _SIZE_RANGE.match(line):
            w0, h0, w1, h1 = (int(m[k]) for k in ("w0", "h0", "w1", "h1"))
            current = [(w, h) for w, h in COMMON_SIZES if w0 <= w <= w1 and h0 <= h <= h1]
            for size in current:
                rates.setdefault(size, set())
        elif m := _INTERVAL_DISCRETE.match(line):
            for size in current:
                rates[size].add(round(float(m["fps"])))
        elif m := _INTERVAL_RANGE.match(line):
            short, long = float(m["short"]), float(m["long"])  # frame intervals in seconds
            lo, hi = 1 / long if long else 0.0, 1 / short if short else float("inf")
            for size in current:
                rates[size].update(r for r in COMMON_RATES if lo * 0.97 <= r <= hi * 1.03)  # 3 decimals of seconds
    return sorted((Mode(w, h, tuple(sorted(r, reverse=True))) for (w, h), r in rates.items()),
                  key=lambda m: (-m.width * m.height, -m.width))


def parse_sysfs(entries: Iterable[tuple[str, str, str]]) -> list[Device]:
    """Devices from sysfs entries (node name such as "video2", its `name`, its `index`): the
    picture node of each device, by index. A node without an `index` file (old kernels)
    counts as a picture node."""
    devices = []
    for node, name, index in entries:
        m = re.fullmatch(r"video(\d+)", node)
        if m is None or index.strip() not in ("", "0"):
            continue
        devices.append(Device(int(m[1]), name.strip() or f"Camera {m[1]}"))
    return sorted(devices, key=lambda d: d.index)


# --- the system (I/O) -------------------------------------------------------------

def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def list_devices(sysfs: Path = SYSFS) -> list[Device]:
    """This computer's capture devices by name (fast: reads sysfs only). Elsewhere than Linux,
    or when sysfs lists none, indices 0-3 unnamed, as OpenCV can open them."""
    if sys.platform.startswith("linux") and sysfs.is_dir():
        nodes = sorted(sysfs.glob("video*"))
        return parse_sysfs((n.name, _read(n / "name"), _read(n / "index")) for n in nodes)
    return [Device(i, f"Camera {i}") for i in range(4)]


def v4l2_modes(index: int, run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> list[Mode] | None:
    """The device's modes from v4l2-ctl; None when v4l2-ctl is not installed or fails."""
    exe = shutil.which("v4l2-ctl")
    if exe is None:
        return None
    try:
        done = run([exe, "-d", f"/dev/video{index}", "--list-formats-ext"], capture_output=True, text=True,
                   timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_formats(done.stdout) if done.returncode == 0 else None


def probe_modes(index: int, sizes: Iterable[tuple[int, int]] = COMMON_SIZES) -> list[Mode]:
    """Ask the device through OpenCV for each size and keep the sizes it reports back (a
    driver answers an unsupported request with its nearest size). The rate it reports at
    each size is the one offered. Opens the camera: call it only while it is not in use."""
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        return []
    found: dict[tuple[int, int], set[int]] = {}
    try:
        for w, h in sizes:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
            got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if got[0] > 0 and got[1] > 0:
                fps = round(cap.get(cv2.CAP_PROP_FPS))
                found.setdefault(got, set()).update({fps} if fps > 0 else set())
    finally:
        cap.release()
    return sorted((Mode(w, h, tuple(sorted(r, reverse=True))) for (w, h), r in found.items()),
                  key=lambda m: (-m.width * m.height, -m.width))


def modes_of(index: int) -> list[Mode]:
    """The device's modes: v4l2-ctl when installed, else an OpenCV probe."""
    modes = v4l2_modes(index)
    return modes if modes is not None else probe_modes(index)


def mode_for(profile: CameraProfile, source: str | int) -> tuple[int, int, int]:
    """(width, height, fps) to ask of `source`: the camera profile's, when the profile is for
    this source (or names none); (0, 0, 0), the device's default, otherwise."""
    from cafe_monitor.capture import parse_source

    if profile.source and str(parse_source(profile.source)) != str(parse_source(source)):
        return (0, 0, 0)
    return (profile.width, profile.height, profile.fps)


def opener_for(settings: Settings, source: str | int) -> Opener:
    """The opener a session uses for its camera: its `[cameras.<camera_name>]` capture mode."""
    from cafe_monitor.capture import camera_opener

    return camera_opener(*mode_for(settings.profile(settings.storage.camera_name), source))
