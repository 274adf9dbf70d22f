"""Work off the GUI thread: a MonitorSession (handing the newest LiveState over) and
history reads (`Loader`).

Only one state is ever pending: if the GUI is slower than the pipeline, older states
are replaced, not queued, so the window shows the present and never falls behind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from sqlalchemy.exc import SQLAlchemyError

from cafe_monitor.capture import SourceError
from cafe_monitor.classification import ModelError
from cafe_monitor.config import Settings
from cafe_monitor.detection import DetectorError
from cafe_monitor.pipeline import Region
from cafe_monitor.session import LiveState, MonitorSession, SessionResult
from cafe_monitor.storage import StorageError

log = logging.getLogger(__name__)


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
        self.settings = self.settings.with_area(region)  # the session's camera (storage.camera_name)
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
            session.pipeline.region = self.settings.profile().area  # an area drawn while models were loading
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


class Loader(QObject):
    """Runs a read (a history view, a session's timeline) off the GUI thread.

    Each `load` gets a number; only the newest one's result is delivered, so picking
    days quickly never shows an older day's figures after a newer one's, and the window
    keeps responding while the database works."""

    loaded = pyqtSignal(object)  # the function's result
    failed = pyqtSignal(str)  # a user-facing one-line message

    def __init__(self, name: str = "loader") -> None:
        super().__init__()
        self.name = name
        self._latest = 0
        self._lock = threading.Lock()
        self._running = 0

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running > 0

    def load(self, fn: Callable[[], object]) -> int:
        with self._lock:
            self._latest += 1
            ticket = self._latest
            self._running += 1
        threading.Thread(target=self._run, args=(ticket, fn), name=self.name, daemon=True).start()
        return ticket

    def _run(self, ticket: int, fn: Callable[[], object]) -> None:
        try:
            result: object = fn()
            error = None
        except (StorageError, OSError) as exc:
            result, error = None, str(exc)
        except SQLAlchemyError as exc:
            result, error = None, f"database error: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
        except Exception as exc:  # a bug: say so in the window rather than lose the thread silently
            log.exception("%s failed", self.name)
            result, error = None, f"unexpected error: {exc!r}"
        finally:
            with self._lock:
                self._running -= 1
                current = ticket == self._latest
        if not current:
            return
        if error is not None:
            self.failed.emit(error)
        else:
            self.loaded.emit(result)
