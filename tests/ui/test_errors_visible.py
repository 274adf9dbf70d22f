"""Every error in the dashboard becomes a visible message, Start always works after a session,
and empty charts still read as charts (pytest-qt, offscreen)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QProgressDialog

from cafe_monitor import storage
from cafe_monitor.config import Settings
from cafe_monitor.domain import Region
from cafe_monitor.scoring import score_visits
from cafe_monitor.ui import app as app_module
from cafe_monitor.ui.app import MainWindow


def broken_database(url: str) -> None:
    """A database that opens (schema version current) but whose sessions table is gone."""
    storage.open_database(url).dispose()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
        con.execute("DROP TABLE timeline")
        con.execute("DROP TABLE visits")
        con.execute("DROP TABLE sessions")


def test_export_failing_with_a_database_error_says_so_and_closes_the_progress(  # type: ignore[no-untyped-def]
        qtbot, window: MainWindow, db_url: str, tmp_path: Path) -> None:
    broken_database(db_url)
    window.export("day", "2026-11-28", tmp_path / "out", ["json"])
    qtbot.waitUntil(lambda: window.status.text().startswith("Export failed"), timeout=30000)
    assert "database error" in window.status.text() and "sessions" in window.status.text()
    qtbot.waitUntil(lambda: not [d for d in window.findChildren(QProgressDialog) if d.isVisible()], timeout=5000)


def test_export_opens_the_database_off_the_gui_thread_and_says_when_it_cannot(  # type: ignore[no-untyped-def]
        qtbot, window: MainWindow, tmp_path: Path, monkeypatch) -> None:
    opened_on: list[str] = []

    def unreachable() -> storage.Engine:
        opened_on.append(threading.current_thread().name)
        raise storage.StorageError("cannot open the database: server not reachable")

    monkeypatch.setattr(window, "engine", unreachable)
    window.export("day", "2026-11-28", tmp_path / "out", ["json"])
    qtbot.waitUntil(lambda: window.status.text().startswith("Export failed"), timeout=30000)
    assert opened_on == ["export"] and "server not reachable" in window.status.text()
    qtbot.waitUntil(lambda: not [d for d in window.findChildren(QProgressDialog) if d.isVisible()], timeout=5000)


def test_history_database_error_is_shown_after_a_tab_switch(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                            db_url: str) -> None:
    broken_database(db_url)
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "Could not read the history" in window.history.summary.text(), timeout=10000)
    assert "database error" in window.history.summary.text() and window.history.summary.isVisible()


def test_history_failing_while_drawing_is_shown_not_lost(qtbot, window: MainWindow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A failure in the GUI thread's drawing (after the read succeeded) is said like a failed read."""
    from cafe_monitor import history

    monkeypatch.setattr(history, "load_day", lambda *a, **k: object())  # a view the charts cannot draw
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "Could not read the history" in window.history.summary.text(), timeout=10000)
    assert "unexpected error" in window.history.summary.text()


def test_start_right_after_a_session_ends_starts_the_next_one(qtbot, window: MainWindow, looping_clip: Path,  # type: ignore[no-untyped-def]
                                                              monkeypatch) -> None:
    """The worker reports the end, then closes its models: a Start click in between is not lost."""
    from cafe_monitor.pipeline import Pipeline

    real_close = Pipeline.close
    clicked = threading.Event()

    def slow_close(self: Pipeline) -> None:  # closing until the test has clicked Start
        clicked.wait(30)
        real_close(self)

    monkeypatch.setattr(Pipeline, "close", slow_close)
    clip = looping_clip  # played once, not looped
    window.start(str(clip))
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=30000)
    first = window.last_result.session_id
    assert window.worker is not None and window.worker.running  # still closing its models
    assert window.start_action.isEnabled()
    window.camera_choice.setCurrentText(str(clip))
    window.start_action.trigger()
    clicked.set()
    qtbot.waitUntil(lambda: window.last_result.session_id != first, timeout=30000)
    assert window.last_result.session_id == first + 1


def test_live_charts_before_any_visit(window: MainWindow) -> None:
    timeline = window.live.timeline
    (x0, x1), (y0, y1) = timeline.viewRange()
    now = time.time()
    assert now - 60 < x0 <= now < x1 and x1 - x0 >= 300  # the clock from now, not 0.1 ... 0.9
    assert y0 <= 0 and y1 >= 100
    assert timeline.empty.isVisible() and timeline.empty.toPlainText() == "no visits yet"
    labels = timeline.axis.tickStrings([x0 + 60, x0 + 120], 1.0, 60)
    assert all(":" in label for label in labels), labels
    one = score_visits(np.eye(7)[[3]])
    timeline.add(now, one)
    assert not timeline.empty.isVisible()
    timeline.add(now + 5, one)  # a session seconds old: clock ticks still, not "34.500 35.000"
    (x0, x1), _ = timeline.viewRange()
    assert x1 - x0 >= timeline.MIN_SPAN and x0 <= now
    levels = timeline.axis.tickValues(x0, x1, 900)  # as drawn 900 px wide: picks the axis's zoom level
    labels = [label for spacing, values in levels for label in timeline.axis.tickStrings(values, 1.0, spacing)]
    assert labels and all(":" in label and "." not in label for label in labels), labels


def test_one_visit_is_said_in_the_singular(window: MainWindow) -> None:
    window.live.gauge.set_score(score_visits(np.eye(7)[[3]]))
    assert "1 visit\n" in window.live.gauge.detail.text()
    window.live.gauge.set_score(score_visits(np.eye(7)[[3, 3]]))
    assert "2 visits\n" in window.live.gauge.detail.text()


def test_history_charts_of_an_empty_day(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "no visits recorded" in window.history.summary.text(), timeout=10000)
    start, end = window.history.clock.day_range(window.history.selected_day())
    (x0, x1), _ = window.history.session_plot.viewRange()
    assert (x0, x1) == pytest.approx((start.timestamp(), end.timestamp()))  # the day's hours, not 0.25 ... 0.75
    _, (v0, v1) = window.history.visits.viewRange()
    assert v0 == 0 and v1 >= 5  # whole visits, not 0.2 ... 0.8



class ClosingWorker:
    """A session (one camera or the grid) that reported its end and still closes its models."""

    def __init__(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def wait(self, timeout: float = 10.0) -> None:
        pass


class StartedGrid(QObject):
    """Stands in for GridWorker: records that the grid was started."""

    state_ready = pyqtSignal()
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)
    made: ClassVar[list[StartedGrid]] = []

    def __init__(self, settings: Settings, plans: list[object], **kwargs: object) -> None:
        super().__init__()
        self.plans, self.running = plans, False
        StartedGrid.made.append(self)

    def cameras(self) -> list[tuple[str, Region]]:
        return [("counter", Region())]

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def wait(self, timeout: float = 10.0) -> None:
        pass


def test_start_after_a_grid_ends_waits_for_its_monitor_to_close(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                                looping_clip: Path) -> None:
    closing = ClosingWorker()
    window.grid_worker = closing  # type: ignore[assignment]
    window._session_ended()  # as on_grid_finished leaves it
    window.start(str(looping_clip))
    assert window.worker is None and not window.start_action.isEnabled()  # queued, not ignored
    qtbot.wait(200)
    assert window.worker is None  # waits as long as the grid closes
    closing.running = False
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=60000)
    assert window.live_views.currentWidget() is window.live


def test_start_all_after_a_session_ends_waits_for_it_to_close(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                              monkeypatch) -> None:
    monkeypatch.setattr(app_module, "GridWorker", StartedGrid)
    StartedGrid.made.clear()
    closing = ClosingWorker()
    window.worker = closing  # type: ignore[assignment]
    window._session_ended()  # as on_finished leaves it
    window.start_all()
    assert StartedGrid.made == [] and not window.start_all_action.isEnabled()
    qtbot.wait(200)
    assert StartedGrid.made == []
    closing.running = False
    qtbot.waitUntil(lambda: len(StartedGrid.made) == 1, timeout=10000)
    assert window.live_views.currentWidget() is window.grid and window.stop_action.isEnabled()
    window.stop()


def test_start_all_is_not_offered_while_one_camera_runs(window: MainWindow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app_module, "MonitorWorker", lambda *a, **k: StartedGrid(Settings(), []))
    window.start("0")
    assert not window.start_all_action.isEnabled() and not window.start_action.isEnabled()
    window.worker = None
