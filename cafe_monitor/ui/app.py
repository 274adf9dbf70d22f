"""Main window: Live and History tabs, toolbar, status line, settings and export."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QStackedWidget,
    QSystemTrayIcon,
    QTabWidget,
    QToolBar,
)

from cafe_monitor import config, storage
from cafe_monitor.capture import is_live, parse_source
from cafe_monitor.daily_reports import DailyReportThread
from cafe_monitor.domain import Region, counted
from cafe_monitor.errors import UserError
from cafe_monitor.monitor import CameraRun, plan_cameras
from cafe_monitor.paths import ICON, data_dir, default_db_url, settings_path
from cafe_monitor.redact import redact_url
from cafe_monitor.session import SessionResult
from cafe_monitor.storage.queries import Counter
from cafe_monitor.ui import first_start
from cafe_monitor.ui.camera_picker import CameraPicker
from cafe_monitor.ui.dialogs import ExportDialog, ExportJob, SettingsDialog
from cafe_monitor.ui.grid import CameraGrid, GridWorker, runs_summary
from cafe_monitor.ui.history import HistoryView
from cafe_monitor.ui.live import LiveView
from cafe_monitor.ui.tray import CloseChoice, Tray, ask_on_close
from cafe_monitor.ui.worker import MonitorWorker

log = logging.getLogger(__name__)
VIDEO_FILTER = "Video or image (*.mp4 *.mov *.avi *.mkv *.webm *.gif *.jpg *.jpeg *.png);;All files (*)"


def import_old_regions(settings: config.Settings, source: str) -> config.Settings:
    """Older versions kept the customer area in regions.json (keyed by source, read only by the
    dashboard, so headless runs ignored it). Its entry for `source` becomes the default camera's
    area in the settings, unless the settings already set one; the file is then renamed
    (regions.json.imported), so this happens once."""
    path = data_dir() / "regions.json"
    if not path.is_file():
        return settings
    try:
        entry = json.loads(path.read_text(encoding="utf-8")).get(str(source))
        area = Region(*(float(x) for x in entry)) if entry is not None else None
        path.replace(path.with_name(path.name + ".imported"))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("regions.json not imported: %s", exc)
        return settings
    if area is None or not settings.profile().area.is_full:
        return settings
    try:
        return settings.with_area(area)
    except config.ConfigError as exc:
        log.warning("regions.json: area for %s not imported: %s", redact_url(str(source)), exc)
        return settings


class MainWindow(QMainWindow):
    def __init__(self, settings: config.Settings, *, source: str | None = None, db_url: str | None = None,
                 model: Path | None = None, settings_file: Path | None = None,
                 settings_error: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Café Monitor")
        self.resize(1280, 800)
        self.settings_file = settings_file or settings_path()
        #: the settings file could not be used (the message); defaults run, and nothing but an
        #: explicit save from the Settings dialog writes over that file
        self.settings_error = settings_error
        self.settings = settings if settings_error else import_old_regions(settings, source or settings.camera.source)
        self.db_url_override = db_url
        self.model = model
        self.initial_source = source
        self.worker: MonitorWorker | None = None
        self.export_job: ExportJob | None = None
        self.last_result: SessionResult | None = None
        self._engine: storage.Engine | None = None
        self._engine_lock = threading.Lock()  # History's and the today panel's loaders open it
        self._worker_ended = False  # the worker reported its end; its thread may still be closing models

        self.live = LiveView()
        self.live.timeline.set_clock(settings.storage.clock())
        self.live.blur = settings.privacy.blur_preview
        self.live.labels = settings.privacy.show_labels
        self.live.set_notice(settings.privacy.notice)
        self.live.region = self.settings.profile().area
        self.history = HistoryView(self.engine, settings.score.to_config(), settings.storage.clock())
        self.tabs = QTabWidget()
        self.grid = CameraGrid(settings.score.to_config())  # several cameras: shown instead of self.live
        self._attach_today()
        self.grid_worker: GridWorker | None = None
        self.live_views = QStackedWidget()
        self.live_views.addWidget(self.live)
        self.live_views.addWidget(self.grid)
        self.tabs.addTab(self.live_views, "Live")
        self.tabs.addTab(self.history, "History")
        self.tabs.currentChanged.connect(lambda i: self._refresh_history() if i == 1 else None)
        self.setCentralWidget(self.tabs)
        self.status = QLabel("Ready")
        self.statusBar().addWidget(self.status, 1)  # type: ignore[union-attr]
        self.unsaved = QLabel()  # rows a failing database could not take, waiting in rescue files
        self.unsaved.setStyleSheet("color: #b00020; font-weight: bold")
        self.statusBar().addPermanentWidget(self.unsaved)  # type: ignore[union-attr]
        self.check_unsaved()
        self.settings_problem = QLabel()  # a settings file that could not be used, until fixed
        self.settings_problem.setStyleSheet("color: #b00020; font-weight: bold")
        self.settings_problem.setWordWrap(True)
        self.statusBar().addPermanentWidget(self.settings_problem)  # type: ignore[union-attr]
        self._show_settings_problem()
        if self.settings is not settings:  # regions.json imported: its area now lives in settings.toml
            self._persist()

        bar = QToolBar("Main")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(bar)
        self.camera_picker = CameraPicker(settings)  # devices by name, their sizes and frame rates
        self.camera_choice = self.camera_picker.device
        self.tray: Tray | None = None
        #: writes each business day's report at its end; started by main(), not by tests' windows
        self.daily_reports: DailyReportThread | None = None
        self.quitting = False
        self.monitoring = False  # a session started and not stopped: closing the window asks first
        self.start_action = QAction("▶ Start camera", self)
        self.start_all_action = QAction("▶ Start all cameras", self)  # the [cameras.*] tables with a source
        self.start_all_action.setVisible(self._several_cameras())
        self.open_action = QAction("Open video…", self)
        self.stop_action = QAction("■ Stop", self)
        self.region_action = QAction("Draw customer area", self)
        self.clear_region_action = QAction("Clear area", self)
        self.blur_action = QAction("Blur faces", self)
        self.blur_action.setCheckable(True)
        self.blur_action.setChecked(self.live.blur)
        self.labels_action = QAction("Mood labels", self)  # for setting up, off by default
        self.labels_action.setCheckable(True)
        self.labels_action.setChecked(self.live.labels)
        self.labels_action.setToolTip("Show each face's visit and mood (for setting up the camera)")
        self.settings_action = QAction("Settings…", self)
        bar.addWidget(self.camera_picker)
        for a in (self.start_action, self.start_all_action, self.open_action, self.stop_action, None,
                  self.region_action, self.clear_region_action, self.blur_action, self.labels_action, None,
                  self.settings_action):
            if a is None:
                bar.addSeparator()
            else:
                bar.addAction(a)
        self.start_action.triggered.connect(self.start_camera)
        self.start_all_action.triggered.connect(lambda: self.start_all())
        self.open_action.triggered.connect(self.open_file)
        self.stop_action.triggered.connect(self.stop)
        self.region_action.triggered.connect(self.begin_region)
        self.clear_region_action.triggered.connect(lambda: self.set_region(Region()))
        self.blur_action.toggled.connect(self.set_blur)
        self.labels_action.toggled.connect(self.set_labels)
        self.settings_action.triggered.connect(self.edit_settings)
        self.live.open_file_requested.connect(self.open_file)
        self.live.video.region_drawn.connect(self.set_region)
        self.history.export_requested.connect(self.export)
        self.stop_action.setEnabled(False)

    # -- database -----------------------------------------------------------------
    def db_url(self) -> str:
        return self.db_url_override or self.settings.storage.url or default_db_url()

    def engine(self) -> storage.Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = storage.open_database(self.db_url())
            return self._engine

    def _attach_today(self) -> None:
        """The Live tab's today/usual figures (the single view's and the grid's): this site, every
        camera, this database."""
        for panel in (self.live.today, self.grid.today):
            panel.attach(self.engine, self.settings.storage.clock(), self.settings.score.to_config(),
                         Counter(site=self.settings.storage.site))

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
        except UserError as exc:
            QMessageBox.warning(self, "Database", str(exc))

    # -- sessions -----------------------------------------------------------------
    def current_source(self) -> str:
        return self.worker.source if self.worker is not None else self.settings.camera.source

    def _several_cameras(self) -> bool:
        """Offer "Start all cameras": two or more [cameras.*] tables with a source (too many
        is offered too, and clicking it says what is wrong)."""
        try:
            return len(plan_cameras(self.settings)) > 1
        except config.ConfigError:
            return True

    def _still_running(self, again: Callable[[], None]) -> bool:
        """Whether a session (one camera or the grid) still runs, so nothing new may start.
        One that reported its end but still closes its models is waited for: `again` (the
        Start asked for) runs once it has closed, so the click is never lost."""
        if not any(w is not None and w.running for w in (self.worker, self.grid_worker)):
            return False
        if self._worker_ended:
            for a in (self.start_action, self.start_all_action, self.open_action):
                a.setEnabled(False)
            QTimer.singleShot(50, again)
        return True

    def start(self, source: str) -> None:
        if self._still_running(lambda: self.start(source)):
            return
        self._worker_ended = False
        self.live_views.setCurrentWidget(self.live)
        self.live.clear_problem()
        self.live.reset()
        settings = self.settings
        self.live.region = settings.profile().area  # the camera sessions are stored under
        self.worker = MonitorWorker(settings, source, db_url=self.db_url_override, model=self.model,
                                    realtime=not is_live(parse_source(source)))
        self.worker.state_ready.connect(self.on_state)
        self.worker.finished.connect(self.on_finished)
        self.worker.failed.connect(self.on_failed)
        self.worker.start()
        for a in (self.start_action, self.start_all_action, self.open_action):
            a.setEnabled(False)
        self.stop_action.setEnabled(True)
        self.camera_picker.set_running(True)
        self.monitoring = True
        self.status.setText(f"Starting {redact_url(source)}…")

    def start_all(self, sources: list[str] | None = None) -> None:
        """Several cameras at once (--source repeated, else the [cameras.*] tables), in a grid."""
        if self._still_running(lambda: self.start_all(sources)):
            return
        try:
            plans = plan_cameras(self.settings, sources or [])
        except config.ConfigError as exc:
            self.live_views.setCurrentWidget(self.live)
            self.live.show_problem(str(exc))
            return
        self._worker_ended = False
        self.live.clear_problem()
        self.grid_worker = GridWorker(self.settings, plans, db_url=self.db_url_override, model=self.model)
        self.grid.set_cameras(self.grid_worker.cameras(), blur=self.live.blur, labels=self.live.labels)
        self.grid.set_notice(self.settings.privacy.notice)
        self.live_views.setCurrentWidget(self.grid)
        self.grid_worker.state_ready.connect(self.on_grid_state)
        self.grid_worker.finished.connect(self.on_grid_finished)
        self.grid_worker.failed.connect(self.on_failed)
        self.grid_worker.start()
        for a, on in ((self.start_action, False), (self.start_all_action, False), (self.open_action, False),
                      (self.stop_action, True), (self.region_action, False), (self.clear_region_action, False)):
            a.setEnabled(on)
        self.monitoring = True
        self.status.setText(f"Starting {len(plans)} cameras…")

    def on_grid_state(self) -> None:
        if self.grid_worker is not None:
            self.grid.update_states(self.grid_worker.take(), self.grid_worker.shortfall())
            self.status.setText(self.grid.status_text())

    def on_grid_finished(self, runs: list[CameraRun]) -> None:
        self._session_ended()
        self.status.setText(runs_summary(runs))
        self._tell_tray(runs_summary(runs))

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
        for w in (self.worker, self.grid_worker):
            if w is not None:
                w.stop()
                self.status.setText("Stopping…")

    def on_state(self) -> None:
        if self.worker is None:
            return
        state = self.worker.take()
        if state is not None:
            self.live.update_state(state)
            self.status.setText(self.live.status_markup(state))

    def on_finished(self, result: SessionResult) -> None:
        self.last_result = result
        self._session_ended()
        s = result.score
        score = f"score {s.score:.0f} ({s.low:.0f}–{s.high:.0f})" if s.score is not None else "no visits"
        self.status.setText(f"Session {result.session_id} ended: {counted(result.stats.frames, 'frame')}, "
                            f"{counted(len(result.visits), 'visit')}, {score}. See History.")
        self._tell_tray(f"Session {result.session_id} ended.")

    def on_failed(self, message: str) -> None:
        self._session_ended()
        self.live_views.setCurrentWidget(self.live)  # where the problem banner is
        hint = " Open a video file instead, or check Settings → Camera." if "camera" in message else ""
        self.live.show_problem(message[:1].upper() + message[1:] + "." + hint)
        self.status.setText("Not running")
        self._tell_tray(message[:1].upper() + message[1:] + ".", problem=True)

    def _tell_tray(self, message: str, problem: bool = False) -> None:
        """Monitoring stopped while the window is hidden in the tray: the window's banner and
        status line are unseen, so the tray says it (its icon stays, to show the window)."""
        if self.tray is not None and self.tray.visible:
            self.tray.say_stopped(message, problem)

    def _session_ended(self) -> None:
        self._worker_ended = True
        self.check_unsaved()
        # the ended session's last visits count today: the panel on screen reads now, the
        # other (behind it) when shown
        on_grid = self.live_views.currentWidget() is self.grid
        (self.grid if on_grid else self.live).today.refresh()
        (self.live if on_grid else self.grid).today.refresh_when_shown()
        for a in (self.start_action, self.start_all_action, self.open_action, self.region_action,
                  self.clear_region_action):
            a.setEnabled(True)
        self.stop_action.setEnabled(False)
        self.camera_picker.set_running(False)
        self.monitoring = False

    # -- region, blur, settings -----------------------------------------------------
    def begin_region(self) -> None:
        self.live_views.setCurrentWidget(self.live)  # the default camera's view (a finished grid may be shown)
        self.live.video.drawing = True
        self.live.video.setCursor(Qt.CursorShape.CrossCursor)
        self.status.setText("Drag a rectangle over the customers' side of the counter")

    def set_region(self, region: Region) -> None:
        """The area drawn becomes this camera's customer area in settings.toml (headless runs
        of the same camera use it too) and applies to a running session at once."""
        try:
            self.settings = self.settings.with_area(region)
        except config.ConfigError as exc:
            self.status.setText(f"Customer area not saved: {exc}")
            return
        self.live.region = region
        self.live.redraw()
        if self.worker is not None:
            self.worker.set_region(region)
        self._persist()
        self.status.setText("Customer area: whole image" if region.is_full else
                            f"Customer area saved: x {region.x1:.2f}–{region.x2:.2f}, "
                            f"y {region.y1:.2f}–{region.y2:.2f}")

    def set_blur(self, on: bool) -> None:
        self.live.blur = on
        self.grid.set_blur(on)
        self._preview_changed(dataclasses.replace(self.settings.privacy, blur_preview=on))

    def set_labels(self, on: bool) -> None:
        self.live.labels = on
        self.grid.set_labels(on)
        self._preview_changed(dataclasses.replace(self.settings.privacy, show_labels=on))

    def _preview_changed(self, privacy: config.PrivacySettings) -> None:
        """Redraw the still picture at once and remember the toggle in the settings file."""
        self.live.redraw()
        self.settings = dataclasses.replace(self.settings, privacy=privacy)
        self._persist()

    def edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() and dialog.result_settings is not None:
            old_url = self.settings.storage.url
            old_reporting = (self.settings.storage, self.settings.reports, self.settings.score,
                             self.settings.privacy.retention_days, self.settings.privacy.visit_retention_days)
            self.settings = dialog.result_settings
            self.live.blur = self.settings.privacy.blur_preview
            self.blur_action.setChecked(self.live.blur)
            self.live.labels = self.settings.privacy.show_labels
            self.labels_action.setChecked(self.live.labels)
            self.live.set_notice(self.settings.privacy.notice)
            self.grid.set_notice(self.settings.privacy.notice)
            self.grid.score_config = self.settings.score.to_config()  # the next update's combined score
            self.start_all_action.setVisible(self._several_cameras())  # cameras added or removed
            self.live.redraw()
            area = self.settings.profile().area
            if area != self.live.region:
                self.live.region = area
                if self.worker is not None:
                    self.worker.set_region(area)
            self.history.score_config = self.settings.score.to_config()
            self.history.clock = self.settings.storage.clock()
            self.live.timeline.set_clock(self.history.clock)
            if self.settings.storage.url != old_url:
                self._engine = None
            self.settings_error = None  # an explicit save replaces a file that could not be used
            self._show_settings_problem()
            self._attach_today()
            if self.daily_reports is not None and old_reporting != (
                    self.settings.storage, self.settings.reports, self.settings.score,
                    self.settings.privacy.retention_days, self.settings.privacy.visit_retention_days):
                self.start_daily_reports()  # the next day's report with the new database, folder, site or zone
            self._persist()
            if any(w is not None and w.running for w in (self.worker, self.grid_worker)):
                self.status.setText("Settings saved; camera, detector and database apply from the next session")

    def start_daily_reports(self) -> None:
        """(Re)start writing each business day's report at its end (and the retention), with
        the current settings. Nothing here waits: the thread opens the database itself, and
        one it replaces finishes a report it is writing on its own."""
        from cafe_monitor import daily_reports

        self.stop_daily_reports(timeout=0)
        self.daily_reports = daily_reports.start_for(self.settings, self.db_url())

    def stop_daily_reports(self, timeout: float = 5.0) -> None:
        if self.daily_reports is not None:
            self.daily_reports.stop(timeout)
            self.daily_reports = None

    def _show_settings_problem(self) -> None:
        self.settings_problem.setVisible(self.settings_error is not None)
        if self.settings_error is not None:
            self.settings_problem.setText(f"⚠ Settings not used (defaults in use): {self.settings_error}")
            self.settings_problem.setToolTip("Fix the file, or save from Settings… to replace it.")

    def _persist(self) -> None:
        if self.settings_error is not None:  # never write defaults over the user's broken file
            self.status.setText("Not saved: the settings file has an error (see the status bar)")
            return
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
        job = ExportJob(self.engine, kind, ref, formats, folder, self.settings.score.to_config(),
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
        running = any(w is not None and w.running for w in (self.worker, self.grid_worker))
        if not self.quitting and self.monitoring and running and event:
            choice = ask_on_close(self, self.tray_available())
            if choice is CloseChoice.TRAY:
                self.hide_to_tray()
            if choice is not CloseChoice.STOP:
                event.ignore()
                return
        for w in (self.worker, self.grid_worker):
            if w is not None:
                w.stop()
                w.wait(10)
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


def launch(settings: config.Settings, *, source: str | None = None, sources: list[str] | None = None,
           db_url: str | None = None, model: Path | None = None, start: bool = False,
           settings_file: Path | None = None, settings_error: str | None = None) -> MainWindow:
    """The shown window, monitoring already when asked: sources given (several: a grid), `--start`,
    or `start_at_launch` (the configured cameras when two or more have a source, else the default one)."""
    window = MainWindow(settings, source=source, db_url=db_url, model=model, settings_file=settings_file,
                        settings_error=settings_error)
    window.show()
    if sources:
        window.start_all(sources)
    elif source is not None:
        window.start(source)
    elif start or (settings.camera.start_at_launch and QApplication.platformName() != "offscreen"):
        if window.start_all_action.isVisible():
            window.start_all()
        else:
            window.start(settings.camera.source)  # the quick start: open the default camera
    return window


def main(settings: config.Settings, *, source: str | None = None, db_url: str | None = None,
         model: Path | None = None, settings_file: Path | None = None, settings_error: str | None = None,
         sources: list[str] | None = None, start: bool = False) -> int:
    """Open the dashboard. `settings_error`: the settings file could not be used (the message);
    the window says so and runs on `settings` (the defaults) instead of exiting unseen.
    `sources`: several cameras at once, in a grid. `start`: monitor at once (`run --start`)."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Café Monitor")
    if ICON.is_file():
        from PyQt6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(ICON)))
    if first_start.needed(settings_file, settings_error) and app.platformName() != "offscreen":
        settings = first_start.run(settings)  # no settings file yet: ask the few things a café must decide
    window = launch(settings, source=source, sources=sources, db_url=db_url, model=model, start=start,
                    settings_file=settings_file, settings_error=settings_error)
    if settings_error is not None and app.platformName() != "offscreen":
        QMessageBox.warning(window, "Settings", f"{settings_error}\n\nThe dashboard runs on the default settings "
                            "until the file is fixed (or replaced from Settings…).")
    window.start_daily_reports()  # the day's report at each day's end
    try:
        return int(app.exec())
    finally:
        window.stop_daily_reports()
