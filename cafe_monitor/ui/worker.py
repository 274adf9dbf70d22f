"""Runs a MonitorSession off the GUI thread and hands the newest LiveState over.

Only one state is ever pending: if the GUI is slower than the pipeline, older states
are replaced, not queued, so the window shows the present and never falls behind.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

from cafe_monitor.capture import SourceError
from cafe_monitor.classification import ModelError
from cafe_monitor.config import Settings
from cafe_monitor.detection import DetectorError
from cafe_monitor.pipeline import Region
from cafe_monitor.session import LiveState, MonitorSession, SessionResult
from cafe_monitor.storage import StorageError


class MonitorWorker(QObject):
    state_ready = pyqtSignal()
    finished = pyqtSignal(object)  # SessionResult
    failed = pyqtSignal(str)  # a user-facing one-line message

    def __init__(self, settings: Settings, source: str, *, db_url: str | None = None, model: Path | None = None,
                 realtime: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self.source = source
        self.db_url = db_url
        self.model = model
        self.realtime = realtime
        self._lock = threading.Lock()
        self._latest: LiveState | None = None
        self._pending = False
        self._session: MonitorSession | None = None
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self.states_dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop_requested.set()
        if self._session is not None:
            self._session.stop()

    def wait(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def take(self) -> LiveState | None:
        with self._lock:
            state, self._pending = self._latest, False
            return state

    def set_region(self, region: Region) -> None:
        """Applies at once if the session is running, else as soon as it starts."""
        self.settings = dataclasses.replace(self.settings, region=region)
        if self._session is not None:
            self._session.pipeline.region = region

    def _on_state(self, state: LiveState) -> None:
        with self._lock:
            if self._pending:
                self.states_dropped += 1
            self._latest = state
            notify = not self._pending
            self._pending = True
        if notify:
            self.state_ready.emit()

    def _run(self) -> None:
        session: MonitorSession | None = None
        try:
            session = MonitorSession(self.settings, source=self.source, db_url=self.db_url, model=self.model,
                                     realtime=self.realtime)
            self._session = session
            session.pipeline.region = self.settings.region  # a region drawn while models were loading
            if self._stop_requested.is_set():
                session.stop()
            result: SessionResult = session.run(on_state=self._on_state)
            self.finished.emit(result)
        except (SourceError, ModelError, DetectorError, StorageError, OSError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: keep the window alive, say what happened
            self.failed.emit(f"unexpected error: {exc!r}")
            raise
        finally:
            if session is not None:
                session.pipeline.close()
