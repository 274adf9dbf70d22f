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
from typing import Protocol

from PyQt6.QtCore import QObject, pyqtSignal, pyqtSlot
from sqlalchemy.exc import SQLAlchemyError

from cafe_monitor.config import Settings
from cafe_monitor.domain import Region
from cafe_monitor.errors import UserError
from cafe_monitor.session import LiveState, MonitorSession, SessionResult

log = logging.getLogger(__name__)


def failure_message(exc: Exception) -> str:
    """The one line the window shows for a job that failed off the GUI thread.

    User errors and database failures are said as they are; anything else is a bug, logged
    with its traceback and still shown, so that no job ever ends in silence."""
    if isinstance(exc, (UserError, OSError)):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}"
    log.error("unexpected error", exc_info=exc)
    return f"unexpected error: {exc!r}"


class Stoppable(Protocol):
    def stop(self) -> None: ...


class RunWorker(QObject):
    """A monitoring run on its own thread (one camera's session, or several cameras'
    monitor): started, stopped from any thread, waited for; its result or its failure (one
    line) reaches the window by signal. Subclasses say what the run is (`_work`), what
    `stop()` ends (`_current`) and what to free once the end is said (`_close`)."""

    state_ready = pyqtSignal()
    finished = pyqtSignal(object)  # what `_work` returned
    failed = pyqtSignal(str)  # a user-facing one-line message

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self._thread_name = thread_name
        self._lock = threading.Lock()
        self._pending = False
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop_requested.set()  # a run still being built stops as soon as it exists
        current = self._current()
        if current is not None:
            current.stop()

    def wait(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _current(self) -> Stoppable | None:
        raise NotImplementedError

    def _work(self) -> object:
        raise NotImplementedError

    def _close(self) -> None:
        """Free what the run held (models, devices); after its end was said, so the window
        hears of the end without waiting for this."""

    def _run(self) -> None:
        try:
            result = self._work()
        except Exception as exc:  # the one place a run's errors reach the window
            self.failed.emit(failure_message(exc))
        else:
            self.finished.emit(result)
        finally:
            self._close()


class MonitorWorker(RunWorker):
    """One camera's MonitorSession; `finished` carries its SessionResult."""

    def __init__(self, settings: Settings, source: str, *, db_url: str | None = None, model: Path | None = None,
                 realtime: bool = True) -> None:
        super().__init__("monitor")
        self.settings = settings
        self.source = source
        self.db_url = db_url
        self.model = model
        self.realtime = realtime
        self._latest: LiveState | None = None
        self._session: MonitorSession | None = None
        self.states_dropped = 0

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

    def _current(self) -> MonitorSession | None:
        return self._session

    def _work(self) -> SessionResult:
        session = MonitorSession(self.settings, source=self.source, db_url=self.db_url, model=self.model,
                                 realtime=self.realtime)
        self._session = session
        session.pipeline.region = self.settings.profile().area  # an area drawn while models were loading
        if self._stop_requested.is_set():
            session.stop()
        return session.run(on_state=self._on_state)

    def _close(self) -> None:
        if self._session is not None:
            self._session.pipeline.close()


class Loader(QObject):
    """Runs a read (a history view, a session's timeline) off the GUI thread.

    Each `load` gets a number; only the newest one's result is delivered, so picking
    days quickly never shows an older day's figures after a newer one's, and the window
    keeps responding while the database works. Whether a result is the newest is decided
    on the GUI thread as it is delivered (a load started meanwhile makes it stale), and
    `busy` stays true until the last result has been delivered or dropped there."""

    loaded = pyqtSignal(object)  # the function's result
    failed = pyqtSignal(str)  # a user-facing one-line message
    _finished = pyqtSignal(int, object, object)  # ticket, result, error message: to the GUI thread

    def __init__(self, name: str = "loader") -> None:
        super().__init__()
        self.name = name
        self._latest = 0
        self._running = 0  # loads not yet delivered or dropped; read and written on the GUI thread
        self._finished.connect(self._deliver)  # emitted by the read's thread: queued to this (GUI) thread

    @property
    def busy(self) -> bool:
        return self._running > 0

    def load(self, fn: Callable[[], object]) -> int:
        self._latest += 1
        self._running += 1
        ticket = self._latest
        threading.Thread(target=self._run, args=(ticket, fn), name=self.name, daemon=True).start()
        return ticket

    def _run(self, ticket: int, fn: Callable[[], object]) -> None:
        try:
            result: object = fn()
            error = None
        except Exception as exc:  # said in the window, never lost with the thread
            result, error = None, failure_message(exc)
        self._finished.emit(ticket, result, error)

    @pyqtSlot(int, object, object)
    def _deliver(self, ticket: int, result: object, error: str | None) -> None:
        self._running -= 1
        if ticket != self._latest:  # a newer load was asked for: its result is the one to show
            return
        if error is not None:
            self.failed.emit(error)
        else:
            self.loaded.emit(result)
