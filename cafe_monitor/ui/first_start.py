"""The first start: no settings file yet, so the dashboard asks the few things a café must
decide (which camera, which café and time zone, when its day begins, what customers are told,
how long detail is kept) and writes settings.toml through cafe_monitor.config, explaining each
choice in a line. Everything else keeps its default and stays in Settings…; "Not now" runs on
the defaults and asks again at the next start.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QTime
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from cafe_monitor import cameras, config
from cafe_monitor.cameras import Device, Mode
from cafe_monitor.errors import UserError
from cafe_monitor.paths import default_db_url, settings_path
from cafe_monitor.redact import redact_url
from cafe_monitor.ui.camera_picker import CameraPicker
from cafe_monitor.ui.dialogs import _whole_range


def _note(text: str) -> QLabel:
    """A line of explanation under a choice: small, grey, wrapped."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color:#555; font-size:90%;")
    return label


def needed(settings_file: Path | None, settings_error: str | None) -> bool:
    """Only the user's own settings file, only when it does not exist (a file given with
    --config, or one that exists but has an error, is never replaced by the set-up)."""
    return settings_file is None and settings_error is None and not settings_path().exists()


class FirstStartDialog(QDialog):
    def __init__(self, settings: config.Settings = config.Settings(), path: Path | None = None, *,
                 list_devices: Callable[[], list[Device]] = cameras.list_devices,
                 modes_of: Callable[[int], list[Mode]] = cameras.modes_of, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set up Café Monitor")
        self.original, self.path = settings, path or settings_path()
        self.result_settings: config.Settings | None = None
        from cafe_monitor.localtime import system_zone_name

        self.camera = CameraPicker(settings, list_devices=list_devices, modes_of=modes_of)
        for label in self.camera.findChildren(QLabel):  # the toolbar's own " Camera " label: the form has one
            label.hide()
        self.camera.device.setMinimumWidth(280)
        self.site = QLineEdit(settings.storage.site)
        self.site.setPlaceholderText("e.g. high-street")
        self.time_zone = QComboBox()
        self.time_zone.setEditable(True)
        self.time_zone.addItems(sorted(zoneinfo.available_timezones()))
        self.time_zone.setCurrentText(settings.storage.time_zone or system_zone_name())
        self.day_start = QTimeEdit(QTime.fromString(settings.storage.business_day_start, "HH:mm"))
        self.day_start.setDisplayFormat("HH:mm")
        self.day_start.setTimeRange(QTime(0, 0), QTime(12, 0))
        self.blur = QCheckBox("Blur every face in the live picture")
        self.blur.setChecked(settings.privacy.blur_preview)
        self.notice = QLineEdit(settings.privacy.notice)
        self.notice.setCursorPosition(0)
        self.notice.setPlaceholderText("empty = no notice")
        self.retention = QSpinBox()
        self.retention.setRange(*_whole_range(config.PrivacySettings, "retention_days"))
        self.retention.setValue(settings.privacy.retention_days)
        self.retention.setSuffix(" days")
        self.error = QLabel()
        self.error.setStyleSheet("color:#b00020;")
        self.error.setWordWrap(True)

        intro = QLabel("<b>Welcome.</b> A few choices for this counter; the rest has sensible defaults. "
                       "All of it can be changed later with the dashboard's <i>Settings…</i> button.")
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Camera", self.camera)
        form.addRow("", _note("The camera that sees the customers' side of the counter. No camera yet? Keep "
                              "the first one: the window says so and offers to open a video."))
        form.addRow("Café (site) name", self.site)
        form.addRow("", _note("Sessions are stored under this name; shops of a chain sharing one database "
                              "each use their own."))
        form.addRow("Time zone", self.time_zone)
        form.addRow("Business day starts at", self.day_start)
        form.addRow("", _note("Charts and reports use the café's local hours. A night until 2 a.m. belongs to "
                              "the day it began when the day starts later, e.g. at 04:00."))
        form.addRow("Privacy", self.blur)
        form.addRow("", _note("The live picture is for the staff: faces are pixelated there. No image or "
                              "video is ever stored, only numbers (moods, counts, times)."))
        form.addRow("Notice for customers", self.notice)
        form.addRow("", _note("Shown under the live picture, for customers who can see the screen."))
        form.addRow("Keep per-second detail for", self.retention)
        form.addRow("", _note("Older per-second rows are deleted; visits and the daily figures are kept."))
        url = default_db_url()
        database = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else redact_url(url)
        where = _note(f"Visits and scores are stored in {database}\nThese settings are saved to {self.path}")
        where.setStyleSheet("color:#333; font-size:90%;")
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Save and open", QDialogButtonBox.ButtonRole.AcceptRole)
        self.later_button = buttons.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(where)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.setMinimumWidth(680)

    def build(self) -> config.Settings:
        """The chosen settings, checked as a loaded file is (ConfigError names the key)."""
        s = self.original
        chosen = dataclasses.replace(
            s,
            camera=dataclasses.replace(s.camera, source=self.camera.source()),
            privacy=dataclasses.replace(s.privacy, blur_preview=self.blur.isChecked(),
                                        notice=self.notice.text().strip(), retention_days=self.retention.value()),
            storage=dataclasses.replace(s.storage, site=self.site.text().strip() or "main",
                                        time_zone=self.time_zone.currentText().strip(),
                                        business_day_start=self.day_start.time().toString("HH:mm")),
        )
        return config.validate(self.camera.remembered(chosen))

    def _save(self) -> None:
        try:
            settings = self.build()
            config.save(settings, self.path)
        except (UserError, OSError) as exc:
            self.error.setText(str(exc))
            return
        self.result_settings = settings
        self.accept()


def run(settings: config.Settings, parent: QWidget | None = None) -> config.Settings:
    """Ask, and return what was saved (or `settings` unchanged after "Not now")."""
    dialog = FirstStartDialog(settings, parent=parent)
    dialog.exec()
    return dialog.result_settings or settings
