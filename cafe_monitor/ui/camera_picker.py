"""The toolbar's camera picker: devices by name, their sizes and frame rates, a stream URL or
file typed in. The chosen size and rate are saved in the camera's `[cameras.<name>]` table
when monitoring starts, and asked of the device from then on (cafe_monitor.cameras).

Modes are read only when someone picks a device or opens the size list (v4l2-ctl answers
in milliseconds; the OpenCV probe opens the camera, so never while it is monitoring), in
a thread, so the window never waits on a device.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from cafe_monitor import cameras, config
from cafe_monitor.cameras import Device, Mode
from cafe_monitor.capture import is_live, parse_source

DEFAULT = "device default"


class _SizeCombo(QComboBox):
    about_to_show = pyqtSignal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()


class CameraPicker(QWidget):
    modes_ready = pyqtSignal(str, list)  # source, list[Mode]; from the probing thread

    def __init__(self, settings: config.Settings, *, list_devices: Callable[[], list[Device]] = cameras.list_devices,
                 modes_of: Callable[[int], list[Mode]] = cameras.modes_of, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.modes_of = modes_of
        self.modes: dict[str, list[Mode]] = {}
        self._probing: set[str] = set()
        self._shown_modes: list[Mode] = []
        self.device = QComboBox()
        self.device.setEditable(True)  # a stream URL or a file typed in
        self.device.setToolTip("Camera (by name), or a stream URL typed in")
        self.device.setMinimumWidth(200)
        for d in list_devices():
            self.device.addItem(d.label, d.source)
        self.size_choice = _SizeCombo()
        self.size_choice.setToolTip("Capture size asked of the camera")
        self.fps_choice = QComboBox()
        self.fps_choice.setToolTip("Frame rate asked of the camera")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel(" Camera "), self.device, self.size_choice, self.fps_choice):
            layout.addWidget(w)
        self.select(settings.camera.source, settings.profile(settings.storage.camera_name))
        self.device.activated.connect(lambda _: self._probe(self.source()))
        self.device.editTextChanged.connect(lambda _: self._fill_sizes(None))
        self.size_choice.about_to_show.connect(lambda: self._probe(self.source()))
        self.size_choice.currentIndexChanged.connect(lambda _: self._fill_rates())
        self.modes_ready.connect(self._modes_arrived)

    # -- what is chosen ----------------------------------------------------------------
    def source(self) -> str:
        """The chosen device's index, or the URL/file typed in."""
        text = self.device.currentText().strip()
        i = self.device.findText(text)
        data = self.device.itemData(i) if i >= 0 else None
        return str(data) if data is not None else (text or "0")

    def mode(self) -> tuple[int, int, int]:
        """(width, height, fps) chosen; 0 = the device's default."""
        size, fps = self.size_choice.currentData(), self.fps_choice.currentData()
        w, h = size if isinstance(size, tuple) else (0, 0)
        return w, h, int(fps) if isinstance(fps, int) else 0

    def remembered(self, settings: config.Settings) -> config.Settings:
        """`settings` with the chosen camera's mode saved in its `[cameras.<name>]` table (only
        for a camera: a file or stream keeps its own size)."""
        source = self.source()
        if not isinstance(parse_source(source), int) or not is_live(parse_source(source)):
            return settings
        name = settings.storage.camera_name
        w, h, fps = self.mode()
        profile = dataclasses.replace(settings.profile(name), source=source, width=w, height=h, fps=fps)
        return dataclasses.replace(settings, cameras={**settings.cameras, name: profile})

    def set_running(self, running: bool) -> None:
        """The device cannot change (or be probed) while it is monitoring."""
        for w in (self.device, self.size_choice, self.fps_choice):
            w.setEnabled(not running)

    # -- filling the lists -------------------------------------------------------------
    def select(self, source: str, profile: config.CameraProfile) -> None:
        i = self.device.findData(source)
        if i >= 0:
            self.device.setCurrentIndex(i)
        else:
            self.device.setEditText(source)
        saved = cameras.mode_for(profile, source)
        known = [Mode(saved[0], saved[1], (saved[2],) if saved[2] else ())] if saved[0] and saved[1] else []
        self._fill_sizes(known, want=saved)

    def _probe(self, source: str) -> None:
        if not isinstance(parse_source(source), int) or source in self.modes or source in self._probing:
            return
        if not self.device.isEnabled():  # monitoring this device now
            return
        self._probing.add(source)
        threading.Thread(target=lambda: self.modes_ready.emit(source, self.modes_of(int(source))),
                         name="camera-modes", daemon=True).start()

    def _modes_arrived(self, source: str, modes: list[Mode]) -> None:
        self._probing.discard(source)
        self.modes[source] = modes
        if source == self.source():
            self._fill_sizes(modes, want=self.mode())

    def _fill_sizes(self, modes: list[Mode] | None, want: tuple[int, int, int] = (0, 0, 0)) -> None:
        if modes is None:
            modes = self.modes.get(self.source(), [])
        self._shown_modes = modes
        self.size_choice.blockSignals(True)
        self.size_choice.clear()
        self.size_choice.addItem(DEFAULT, None)
        for m in modes:
            self.size_choice.addItem(m.label, (m.width, m.height))
        sizes = [self.size_choice.itemData(i) for i in range(self.size_choice.count())]  # findData can't match tuples
        self.size_choice.setCurrentIndex(sizes.index((want[0], want[1])) if (want[0], want[1]) in sizes else 0)
        self.size_choice.blockSignals(False)
        self._fill_rates(want[2])

    def _fill_rates(self, want: int | None = None) -> None:
        if want is None:
            want = self.mode()[2]
        size = self.size_choice.currentData()
        rates = sorted({r for m in self._shown_modes if size is None or (m.width, m.height) == size for r in m.rates},
                       reverse=True)
        if want and want not in rates:
            rates.append(want)
        self.fps_choice.clear()
        self.fps_choice.addItem(DEFAULT, None)
        for r in rates:
            self.fps_choice.addItem(f"{r} fps", r)
        self.fps_choice.setCurrentIndex(max(self.fps_choice.findData(want), 0) if want else 0)
