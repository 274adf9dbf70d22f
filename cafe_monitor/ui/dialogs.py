"""Export (with progress, off the GUI thread) and settings (validated, persisted)."""

from __future__ import annotations

import dataclasses
import threading
import zoneinfo
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, QTime, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from cafe_monitor import config, reports, storage
from cafe_monitor.domain import CLASSES, Region
from cafe_monitor.errors import UserError
from cafe_monitor.limits import Limit, help_of, limit_of
from cafe_monitor.localtime import CafeClock, system_zone_name
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage.queries import Counter
from cafe_monitor.ui.worker import failure_message


class ExportJob(QObject):
    """Opens the database, builds and writes a report in a worker thread (opening a database
    may migrate it or wait on a server: never on the GUI thread); reports back by signal."""

    done = pyqtSignal(list)  # written paths
    failed = pyqtSignal(str)

    def __init__(self, engine_factory: Callable[[], storage.Engine], kind: str, ref: str, formats: list[str], out: Path,
                 score_config: ScoreConfig, clock: CafeClock | None = None, counter: Counter = Counter()) -> None:
        super().__init__()
        self.args = (engine_factory, kind, ref, formats, out, score_config)
        self.clock, self.counter = clock, counter
        self.worker: threading.Thread | None = None

    def start(self) -> None:
        self.worker = threading.Thread(target=self._run, name="export", daemon=True)
        self.worker.start()

    def _run(self) -> None:
        engine_factory, kind, ref, formats, out, cfg = self.args
        try:
            engine = engine_factory()
            data = (reports.session_report(engine, ref, cfg, self.clock) if kind == "session"
                    else reports.day_report(engine, ref, cfg, self.clock, self.counter))
            self.done.emit([str(p) for p in reports.write(data, formats, out)])
        except Exception as exc:  # a database error too: the progress dialog must close with a message
            self.failed.emit(failure_message(exc))


class ExportDialog(QDialog):
    def __init__(self, kind: str, ref: str, default_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export {kind} {ref}")
        self.folder = QLineEdit(str(default_dir))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.formats = {f: QCheckBox(f.upper()) for f in reports.FORMATS}
        self.formats["pdf"].setChecked(True)
        self.formats["csv"].setChecked(True)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        fmt = QHBoxLayout()
        for cb in self.formats.values():
            fmt.addWidget(cb)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Formats", fmt)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if d:
            self.folder.setText(d)

    def chosen(self) -> tuple[Path, list[str]]:
        return Path(self.folder.text()), [f for f, cb in self.formats.items() if cb.isChecked()]


def _whole_range(cls: type, name: str) -> tuple[int, int]:
    """A spin box's range from the field's allowed range (config validates the same table)."""
    limit = limit_of(next(f for f in dataclasses.fields(cls) if f.name == name)) or Limit(0, 2**31 - 1)
    return int(limit.low) + limit.low_open, int(limit.high) - limit.high_open


def help_for(cls: type, name: str) -> str:
    """A setting's one-line help (its field metadata, as docs/settings.md shows it), for a tooltip."""
    return help_of(next(f for f in dataclasses.fields(cls) if f.name == name))


def _valence_range() -> tuple[float, float]:
    limit = limit_of(next(f for f in dataclasses.fields(config.ScoreSettings) if f.name == "valence")) or Limit(-1, 1)
    return limit.low, limit.high


class SettingsDialog(QDialog):
    """Edits the settings file; every value is validated by config.parse before saving."""

    def __init__(self, settings: config.Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.original = settings
        self.source = QLineEdit(settings.camera.source)
        self.detector = QComboBox()
        self.detector.addItems(["full_range", "short_range"])
        self.detector.setCurrentText(settings.detector.model)
        self.blur = QCheckBox("Blur every face in the live preview")
        self.blur.setChecked(settings.privacy.blur_preview)
        self.labels = QCheckBox("Show mood labels on faces (for setting up)")
        self.labels.setChecked(settings.privacy.show_labels)
        self.notice = QLineEdit(settings.privacy.notice)
        self.notice.setPlaceholderText("empty = no notice under the live image")
        self.notice.setCursorPosition(0)
        self.retention = QSpinBox()
        self.retention.setRange(*_whole_range(config.PrivacySettings, "retention_days"))
        self.retention.setValue(settings.privacy.retention_days)
        self.retention.setSuffix(" days")
        self.db = QLineEdit(settings.storage.url)
        self.db.setPlaceholderText("empty = SQLite in the user data folder")
        self.site = QLineEdit(settings.storage.site)
        self.camera_name = QLineEdit(settings.storage.camera_name)
        self.time_zone = QComboBox()  # typed or picked; checked by config.validate on save
        self.time_zone.setEditable(True)
        self.time_zone.addItems(["", *sorted(zoneinfo.available_timezones())])
        self.time_zone.setCurrentText(settings.storage.time_zone)
        self.time_zone.lineEdit().setPlaceholderText(f"this computer's ({system_zone_name()})")  # type: ignore[union-attr]
        self.day_start = QTimeEdit(QTime.fromString(settings.storage.business_day_start, "HH:mm"))
        self.day_start.setDisplayFormat("HH:mm")
        self.day_start.setTimeRange(QTime(0, 0), QTime(12, 0))
        area = settings.profile().area  # of the camera named below; saved for the name given on save
        self.area: dict[str, QDoubleSpinBox] = {}
        area_row = QHBoxLayout()
        for f in dataclasses.fields(Region):
            box = QDoubleSpinBox()
            limit = limit_of(f)
            if limit is not None:
                box.setRange(limit.low, limit.high)
            box.setDecimals(3)
            box.setSingleStep(0.05)
            box.setValue(getattr(area, f.name))
            box.setToolTip(f"{f.name}: fraction of the frame ({'left' if f.name[0] == 'x' else 'top'} = 0)")
            self.area[f.name] = box
            area_row.addWidget(QLabel(f.name))
            area_row.addWidget(box)
        self.valence: dict[str, QDoubleSpinBox] = {}
        weights = QGroupBox("Score weights (valence per emotion, −1…1)")
        wform = QFormLayout(weights)
        for c in CLASSES:
            box = QDoubleSpinBox()
            box.setRange(*_valence_range())
            box.setSingleStep(0.1)
            box.setValue(float(settings.score.valence.get(c, 0.0)))
            self.valence[c] = box
            wform.addRow(c, box)
        for widget, cls, name in ((self.source, config.CameraSettings, "source"),
                                  (self.detector, config.DetectorSettings, "model"),
                                  (self.blur, config.PrivacySettings, "blur_preview"),
                                  (self.labels, config.PrivacySettings, "show_labels"),
                                  (self.notice, config.PrivacySettings, "notice"),
                                  (self.retention, config.PrivacySettings, "retention_days"),
                                  (self.db, config.StorageSettings, "url"), (self.site, config.StorageSettings, "site"),
                                  (self.camera_name, config.StorageSettings, "camera_name"),
                                  (self.time_zone, config.StorageSettings, "time_zone"),
                                  (self.day_start, config.StorageSettings, "business_day_start")):
            widget.setToolTip(help_for(cls, name))  # the same line as docs/settings.md
        self.error = QLabel()
        self.error.setStyleSheet("color:#b00020;")
        form = QFormLayout()
        form.addRow("Camera (index, file or URL)", self.source)
        form.addRow("Face detector", self.detector)
        form.addRow("Customer area (x1, y1, x2, y2)", area_row)
        form.addRow("", self.blur)
        form.addRow("", self.labels)
        form.addRow("Notice for customers", self.notice)
        form.addRow("Keep per-second data for", self.retention)
        form.addRow("Database URL", self.db)
        form.addRow("Site", self.site)
        form.addRow("Camera name", self.camera_name)
        form.addRow("Time zone of the site", self.time_zone)
        form.addRow("Business day starts at", self.day_start)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(weights)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.result_settings: config.Settings | None = None

    def build(self) -> config.Settings:
        """The edited settings, checked like a loaded file (ConfigError names the key)."""
        s = self.original
        edited = config.validate(dataclasses.replace(
            s,
            camera=dataclasses.replace(s.camera, source=self.source.text().strip() or "0"),
            detector=dataclasses.replace(s.detector, model=self.detector.currentText()),
            privacy=dataclasses.replace(s.privacy, blur_preview=self.blur.isChecked(),
                                        show_labels=self.labels.isChecked(), notice=self.notice.text().strip(),
                                        retention_days=self.retention.value()),
            storage=dataclasses.replace(s.storage, url=self.db.text().strip(), site=self.site.text().strip() or "main",
                                        camera_name=self.camera_name.text().strip() or "counter",
                                        time_zone=self.time_zone.currentText().strip(),
                                        business_day_start=self.day_start.time().toString("HH:mm")),
            score=dataclasses.replace(s.score, valence={c: round(b.value(), 3) for c, b in self.valence.items()}),
        ))
        return edited.with_area(Region(**{k: round(b.value(), 3) for k, b in self.area.items()}))

    def _save(self) -> None:
        try:
            self.result_settings = self.build()
            if self.result_settings.storage.url:
                storage.open_database(self.result_settings.storage.url).dispose()
        except UserError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
