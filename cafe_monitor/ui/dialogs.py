"""Export (with progress, off the GUI thread) and settings (validated, persisted)."""

from __future__ import annotations

import dataclasses
import threading
import zoneinfo
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
from cafe_monitor.domain import CLASSES
from cafe_monitor.errors import UserError
from cafe_monitor.localtime import CafeClock, system_zone_name
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage.queries import Counter
from cafe_monitor.ui.worker import failure_message


class ExportJob(QObject):
    """Builds and writes a report in a worker thread; reports back by signal."""

    done = pyqtSignal(list)  # written paths
    failed = pyqtSignal(str)

    def __init__(self, engine: storage.Engine, kind: str, ref: str, formats: list[str], out: Path,
                 score_config: ScoreConfig, clock: CafeClock | None = None, counter: Counter = Counter()) -> None:
        super().__init__()
        self.args = (engine, kind, ref, formats, out, score_config)
        self.clock, self.counter = clock, counter
        self.worker: threading.Thread | None = None

    def start(self) -> None:
        self.worker = threading.Thread(target=self._run, name="export", daemon=True)
        self.worker.start()

    def _run(self) -> None:
        engine, kind, ref, formats, out, cfg = self.args
        try:
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
        self.blur = QCheckBox("Blur faces in the live preview")
        self.blur.setChecked(settings.privacy.blur_preview)
        self.retention = QSpinBox()
        self.retention.setRange(1, 3650)
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
        r = settings.region
        self.region_label = QLabel(f"x {r.x1:.2f}–{r.x2:.2f}, y {r.y1:.2f}–{r.y2:.2f}" if not r.is_full
                                   else "whole image")
        self.valence: dict[str, QDoubleSpinBox] = {}
        weights = QGroupBox("Score weights (valence per emotion, −1…1)")
        wform = QFormLayout(weights)
        for c in CLASSES:
            box = QDoubleSpinBox()
            box.setRange(-1.0, 1.0)
            box.setSingleStep(0.1)
            box.setValue(float(settings.score.valence.get(c, 0.0)))
            self.valence[c] = box
            wform.addRow(c, box)
        self.error = QLabel()
        self.error.setStyleSheet("color:#b00020;")
        form = QFormLayout()
        form.addRow("Camera (index, file or URL)", self.source)
        form.addRow("Face detector", self.detector)
        form.addRow("Region of interest", self.region_label)
        form.addRow("", self.blur)
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
        s = self.original
        return config.validate(dataclasses.replace(
            s,
            camera=dataclasses.replace(s.camera, source=self.source.text().strip() or "0"),
            detector=dataclasses.replace(s.detector, model=self.detector.currentText()),
            privacy=dataclasses.replace(s.privacy, blur_preview=self.blur.isChecked(),
                                        retention_days=self.retention.value()),
            storage=dataclasses.replace(s.storage, url=self.db.text().strip(), site=self.site.text().strip() or "main",
                                        camera_name=self.camera_name.text().strip() or "counter",
                                        time_zone=self.time_zone.currentText().strip(),
                                        business_day_start=self.day_start.time().toString("HH:mm")),
            score=dataclasses.replace(s.score, valence={c: round(b.value(), 3) for c, b in self.valence.items()}),
        ))

    def _save(self) -> None:
        try:
            self.result_settings = self.build()
            if self.result_settings.storage.url:
                storage.open_database(self.result_settings.storage.url).dispose()
        except UserError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
