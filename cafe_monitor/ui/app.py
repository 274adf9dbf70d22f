"""Main window: Live and History tabs, toolbar, status line, settings and export."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSystemTrayIcon,
    QTabWidget,
    QToolBar,
)

from cafe_monitor import config, storage
from cafe_monitor.capture import is_live, parse_source
from cafe_monitor.paths import data_dir, default_db_url, settings_path
from cafe_monitor.pipeline import Region
from cafe_monitor.redact import redact_url
from cafe_monitor.session import SessionResult
from cafe_monitor.ui.camera_picker import CameraPicker
from cafe_monitor.ui.dialogs import ExportDialog, ExportJob, SettingsDialog
from cafe_monitor.ui.history import HistoryView
from cafe_monitor.ui.live import LiveView
from cafe_monitor.ui.tray import CloseChoice, Tray, ask_on_close
from cafe_monitor.ui.worker import MonitorWorker

log = logging.getLogger(__name__)
VIDEO_FILTER = "Video or image (*.mp4 *.mov *.avi *.mkv *.webm *.gif *.jpg *.jpeg *.png);;All files (*)"


def regions_path() -> Path:
    return data_dir() / "regions.json"


def load_regions() -> dict[str, list[float]]:
    try:
        data = json.loads(regions_path().read_text())
        return {str(k): [float(x) for x in v] for k, v in data.items() if len(v) == 4}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save_region(source: str, region: Region) -> None:
    regions = load_regions()
    regions[source] = [region.x1, region.y1, region.x2, region.y2]
    tmp = regions_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(regions, indent=2))
    tmp.replace(regions_path())


class MainWindow(QMainWindow):
    def __init__(self, settings: config.Settings, *, source: str | None = None, db_url: str | None = None,
                 model: Path | None = None, settings_file: Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Café Monitor")
        self.resize(1280, 800)
        self.settings = settings
        self.settings_file = settings_file or settings_path()
        self.db_url_override = db_url
        self.model = model
        self.initial_source = source
        self.worker: MonitorWorker | None = None
        self.export_job: ExportJob | None = None
        self.last_result: SessionResult | None = None
        self._engine: storage.Engine | None = None

        self.live = LiveView()
        self.live.timeline.set_clock(settings.storage.clock())
        self.live.blur = settings.privacy.blur_preview
        self.history = HistoryView(self.engine, settings.score.to_config(), settings.storage.clock())
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.history, "History")
        self.tabs.currentChanged.connect(lambda i: self._refresh_history() if i == 1 else None)
        self.setCentralWidget(self.tabs)
        self.status = QLabel("Ready")
        self.statusBar().addWidget(self.status, 1)  # type: ignore[union-attr]
        self.unsaved = QLabel()  # rows a failing database could not take, waiting in rescue files
        self.unsaved.setStyleSheet("color: #b00020; font-weight: bold")
        self.statusBar().addPermanentWidget(self.unsaved)  # type: ignore[union-attr]
        self.check_unsaved()

        bar = QToolBar("Main")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(bar)
        self.camera_picker = CameraPicker(settings)  # devices by name, their sizes and frame rates
        self.camera_choice = self.camera_picker.device
        self.tray: Tray | None = None
        self.quitting = False
        self.monitoring = False  # a session started and not stopped: closing the window asks first
        self.start_action = QAction("▶ Start camera", self)
        self.open_action = QAction("Open video…", self)
        self.stop_action = QAction("■ Stop", self)
        self.region_action = QAction("Draw customer area", self)
        self.clear_region_action = QAction("Clear area", self)
        self.blur_action = QAction("Blur faces", self)
        self.blur_action.setCheckable(True)
        self.blur_action.setChecked(self.live.blur)
        self.settings_action = QAction("Settings…", self)
        bar.addWidget(self.camera_picker)
        for a in (self.start_action, self.open_action, self.stop_action, None, self.region_action,
                  self.clear_region_action, self.blur_action, None, self.settings_action):
            if a is None:
                bar.addSeparator()
            else:
                bar.addAction(a)
        self.start_action.triggered.connect(self.start_camera)
        self.open_action.triggered.connect(self.open_file)
        self.stop_action.triggered.connect(self.stop)
        self.region_action.triggered.connect(self.begin_region)
        self.clear_region_action.triggered.connect(lambda: self.set_region(Region()))
        self.blur_action.toggled.connect(self.set_blur)
        self.settings_action.triggered.connect(self.edit_settings)
        self.live.open_file_requested.connect(self.open_file)
        self.live.video.region_drawn.connect(self.set_region)
        self.history.export_requested.connect(self.export)
        self.stop_action.setEnabled(False)

    # -- database -----------------------------------------------------------------
    def db_url(self) -> str:
        return self.db_url_override or self.settings.storage.url or default_db_url()

    def engine(self) -> storage.Engine:
        if self._engine is None:
            self._engine = storage.open_database(self.db_url())
        return self._engine

    def check_unsaved(self) -> None:
        """Say so while rescue files wait to be imported (at start and after each session)."""
        from cafe_monitor.storage.rescue import pending_files

        files = pending_files(data_dir())
        self.unsaved.setVisible(bool(files))
        if files:
            self.unsaved.setText(f"⚠ {len(files)} unsaved session file(s)")
            self.unsaved.setToolTip("The database was unavailable; these rows are kept in\n"
                                    + "\n".join(str(f) for f in files)
                                    + "\nLoad them with: cafe-monitor import FILE")

    def _refresh_history(self) -> None:
        try:
            self.history.refresh()
        except storage.StorageError as exc:
            QMessageBox.warning(self, "Database", str(exc))

    # -- sessions -----------------------------------------------------------------
    def current_source(self) -> str:
        return self.worker.source if self.worker is not None else self.settings.camera.source

    def start(self, source: str) -> None:
        if self.worker is not None and self.worker.running:
            return
        self.live.clear_problem()
        self.live.reset()
        region = load_regions().get(str(source))
        settings = self.settings
        if region is not None:
            settings = dataclasses.replace(settings, region=Region(*region))
        self.live.region = settings.region
        self.worker = MonitorWorker(settings, source, db_url=self.db_url_override, model=self.model,
                                    realtime=not is_live(parse_source(source)))
        self.worker.state_ready.connect(self.on_state)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        self.worker.start()
        self.start_action.setEnabled(False)
        self.open_action.setEnabled(False)
        self.stop_action.setEnabled(True)
        self.camera_picker.set_running(True)
        self.monitoring = True
        self.status.setText(f"Starting {redact_url(source)}…")

    def start_camera(self) -> None:
        """Start the picked camera; its size and frame rate are saved for next time."""
        remembered = self.camera_picker.remembered(self.settings)
        if remembered != self.settings:
            self.settings = remembered
            self._persist()
        self.start(self.camera_picker.source())

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", str(Path.cwd()), VIDEO_FILTER)
        if path:
            self.start(path)

    def stop(self) -> None:
        self.monitoring = False
        if self.worker is not None:
            self.worker.stop()
            self.status.setText("Stopping…")

    def on_state(self) -> None:
        if self.worker is None:
            return
        state = self.worker.take()
        if state is not None:
            self.live.update_state(state)
            self.status.setText(self.live.status_text(state))

    def on_finished(self, result: SessionResult) -> None:
        self.last_result = result
        self._session_ended()
        s = result.score
        score = f"score {s.score:.0f} ({s.low:.0f}–{s.high:.0f})" if s.score is not None else "no visits"
        self.status.setText(f"Session {result.session_id} ended: {result.stats.frames} frames, "
                            f"{len(result.visits)} visits, {score}. See History.")

    def on_failed(self, message: str) -> None:
        self._session_ended()
        hint = " Open a video file instead, or check Settings → Camera." if "camera" in message else ""
        self.live.show_problem(message[:1].upper() + message[1:] + "." + hint)
        self.status.setText("Not running")

    def _session_ended(self) -> None:
        self.check_unsaved()
        self.start_action.setEnabled(True)
        self.open_action.setEnabled(True)
        self.stop_action.setEnabled(False)
        self.camera_picker.set_running(False)
        self.monitoring = False

    # -- region, blur, settings -----------------------------------------------------
    def begin_region(self) -> None:
        self.live.video.drawing = True
        self.live.video.setCursor(Qt.CursorShape.CrossCursor)
        self.status.setText("Drag a rectangle over the customers' side of the counter")

    def set_region(self, region: Region) -> None:
        self.live.region = region
        if self.worker is not None:
            self.worker.set_region(region)
        save_region(str(self.current_source()), region)
        self.status.setText("Customer area: whole image" if region.is_full else
                            f"Customer area saved: x {region.x1:.2f}–{region.x2:.2f}, "
                            f"y {region.y1:.2f}–{region.y2:.2f}")

    def set_blur(self, on: bool) -> None:
        self.live.blur = on
        self.settings = dataclasses.replace(self.settings, privacy=dataclasses.replace(self.settings.privacy,
                                                                                       blur_preview=on))
        self._persist()

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            old_url = self.settings.storage.url
            self.settings = dialog.result_settings
            self.live.blur = self.settings.privacy.blur_preview
            self.blur_action.setChecked(self.live.blur)
            self.history.score_config = self.settings.score.to_config()
            self.history.clock = self.settings.storage.clock()
            self.live.timeline.set_clock(self.history.clock)
            if self.settings.storage.url != old_url:
                self._engine = None
            self._persist()
            if self.worker is not None and self.worker.running:
                self.status.setText("Settings saved; camera, detector and database apply from the next session")

    def _persist(self) -> None:
        try:
            config.save(self.settings, self.settings_file)
        except OSError as exc:
            QMessageBox.warning(self, "Settings", f"Could not save settings to {self.settings_file}: {exc}")

    # -- export -------------------------------------------------------------------
    def export(self, kind: str, ref: str, folder: Path | None = None, formats: list[str] | None = None) -> None:
        if folder is None or formats is None:
            dialog = ExportDialog(kind, ref, Path.home(), self)
            if not dialog.exec():
                return
            folder, formats = dialog.chosen()
        progress = QProgressDialog(f"Exporting {kind} {ref}…", None, 0, 0, self)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.show()
        try:
            engine = self.engine()
        except storage.StorageError as exc:
            progress.close()
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        job = ExportJob(engine, kind, ref, formats, folder, self.settings.score.to_config(),
                        self.settings.storage.clock(), self.history.selected_counter())  # the site/camera shown
        job.done.connect(progress.close)
        job.done.connect(self._exported)
        job.failed.connect(progress.close)
        job.failed.connect(self._export_failed)
        self.export_job = job
        job.start()

    def _exported(self, paths: list[str]) -> None:
        self.status.setText("Exported: " + ", ".join(paths))
        if QApplication.platformName() != "offscreen":
            QMessageBox.information(self, "Export done", "Written:\n" + "\n".join(paths))

    def _export_failed(self, message: str) -> None:
        self.status.setText(f"Export failed: {message}")
        if QApplication.platformName() != "offscreen":
            QMessageBox.warning(self, "Export failed", message)

    # -- closing: keep monitoring in the tray, or stop -----------------------------------
    def tray_available(self) -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def closeEvent(self, event: QCloseEvent | None) -> None:
        if not self.quitting and self.monitoring and self.worker is not None and self.worker.running and event:
            choice = ask_on_close(self, self.tray_available())
            if choice is CloseChoice.TRAY:
                self.hide_to_tray()
            if choice is not CloseChoice.STOP:
                event.ignore()
                return
        if self.worker is not None:
            self.worker.stop()
            self.worker.wait(10)
        if self.tray is not None:
            self.tray.hide()
        super().closeEvent(event)

    def hide_to_tray(self) -> None:
        if self.tray is None:
            self.tray = Tray(self.windowIcon(), self)
            self.tray.show_requested.connect(self.show_from_tray)
            self.tray.quit_requested.connect(self.quit_from_tray)
        QApplication.setQuitOnLastWindowClosed(False)  # the hidden window is not the end
        self.tray.show()
        self.hide()

    def show_from_tray(self) -> None:
        QApplication.setQuitOnLastWindowClosed(True)
        if self.tray is not None:
            self.tray.hide()
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def quit_from_tray(self) -> None:
        self.quitting = True  # stop without asking
        self.close()
        QApplication.quit()


def launch(settings: config.Settings, *, source: str | None = None, db_url: str | None = None,
           model: Path | None = None, start: bool = False) -> MainWindow:
    """The shown window, monitoring already when asked (a source, --start, or start_at_launch)."""
    window = MainWindow(settings, source=source, db_url=db_url, model=model)
    window.show()
    if source is not None:
        window.start(source)
    elif start or (settings.camera.start_at_launch and QApplication.platformName() != "offscreen"):
        window.start(settings.camera.source)  # the quick start: open the default camera
    return window


def main(settings: config.Settings, *, source: str | None = None, db_url: str | None = None,
         model: Path | None = None, start: bool = False) -> int:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Café Monitor")
    icon = Path(__file__).resolve().parents[2] / "assets" / "icon.svg"
    if icon.is_file():
        from PyQt6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    window = launch(settings, source=source, db_url=db_url, model=model, start=start)
    from cafe_monitor import daily_reports

    reporter = daily_reports.start_for(settings, window.db_url())  # the day's report at each day's end
    try:
        return int(app.exec())
    finally:
        if reporter is not None:
            reporter.stop()
