"""The Live tab's "today at a glance" panel on a stored history: today's score so far and
the usual for this hour, "no data yet" without visits, read off the GUI thread, every
30 s and when a session ends; a database error is said in the panel."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading

import pytest

from cafe_monitor import storage
from cafe_monitor.config import Settings
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage.queries import Counter
from cafe_monitor.ui import today as today_ui
from cafe_monitor.ui.app import MainWindow
from cafe_monitor.ui.today import TodayPanel
from tests.test_queries import add_session, utc

NOW = utc(2026, 6, 15, 13, 20)  # Monday 15 June 2026, 14:20 in London (BST)


@pytest.fixture
def window(qtbot, db_url: str) -> MainWindow:  # type: ignore[no-untyped-def]
    base = Settings()
    settings = dataclasses.replace(base, storage=dataclasses.replace(base.storage, time_zone="Europe/London"))
    w = MainWindow(settings, db_url=db_url)
    qtbot.addWidget(w)
    w.live.today.now = lambda: NOW
    return w


def shown(qtbot, panel: TodayPanel) -> None:  # type: ignore[no-untyped-def]
    panel.refresh()
    qtbot.waitUntil(lambda: not panel.loading and panel.shown is not None and panel.shown.day == NOW.date(),
                    timeout=10000)


def test_no_data_yet_then_today_and_the_usual_for_this_hour(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    panel = window.live.today
    assert panel.isVisibleTo(window.live) and panel.timer.isActive() and panel.timer.interval() == 30_000
    shown(qtbot, panel)
    assert panel.today.text() == "Today so far: no data yet"
    assert panel.usual.text() == "Usual for Mon 14:00–15:00: no data yet"

    engine = window.engine()
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 8), "happy"), (utc(2026, 6, 15, 9), "sad")],
                camera="till")
    add_session(engine, utc(2026, 6, 15, 12), [(utc(2026, 6, 15, 13, 5), "happy"), (utc(2026, 6, 15, 13, 10),
                                                                                      "neutral")], camera="seating")
    add_session(engine, utc(2026, 6, 8, 12), [(utc(2026, 6, 8, 13, 0), "happy"), (utc(2026, 6, 8, 13, 59), "happy")])
    add_session(engine, utc(2026, 6, 1, 12), [(utc(2026, 6, 1, 13, 30), "sad")])
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 9), "angry")], site="elsewhere")  # not this site
    window.on_failed("camera 7 is not available")  # a session ends: the figures are read again
    qtbot.waitUntil(lambda: not panel.loading and panel.shown is not None and panel.shown.today.visits == 4,
                    timeout=10000)
    assert panel.today.text() == "Today so far: 65 (4 visits)"  # (1 - 0.8 + 1 + 0) / 4 -> 65
    assert panel.usual.text() == "Usual for Mon 14:00–15:00: 70 (n = 2 days, 3 visits)"  # (1 + 1 - 0.8) / 3
    assert "Europe/London" in panel.toolTip()


def test_read_off_the_gui_thread(qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    panel = window.live.today
    shown(qtbot, panel)
    real, gate, threads = today_ui.load_glance, threading.Event(), []

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(today_ui, "load_glance", slow)
    panel.refresh()
    assert panel.loading  # still loading: the read waits for the gate, on its own thread
    gate.set()
    qtbot.waitUntil(lambda: not panel.loading, timeout=10000)
    assert threads and threads[0] is not threading.main_thread()


def test_a_database_error_is_said_in_the_panel(qtbot) -> None:  # type: ignore[no-untyped-def]
    panel = TodayPanel()
    qtbot.addWidget(panel)
    assert panel.today.text() == "Today so far: –"  # not attached: reads nothing

    def broken() -> storage.Engine:
        raise storage.StorageError("cannot open the database: disk I/O error")

    panel.attach(broken, CafeClock.of("Europe/London"), ScoreConfig(), Counter(site="main"))
    qtbot.waitUntil(lambda: not panel.loading and panel.note.isVisibleTo(panel), timeout=10000)
    assert panel.note.text() == "Could not read today's figures: cannot open the database: disk I/O error"


def test_one_visit_and_one_day_are_singular(qtbot, db_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = storage.open_database(db_url)
    add_session(engine, utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 8), "happy")])
    add_session(engine, utc(2026, 6, 8, 12), [(utc(2026, 6, 8, 13, 30), "neutral")])
    panel = TodayPanel()
    qtbot.addWidget(panel)
    panel.now = lambda: NOW
    panel.attach(lambda: engine, CafeClock.of("Europe/London"), ScoreConfig(), Counter(site="main"))
    qtbot.waitUntil(lambda: not panel.loading and panel.shown is not None, timeout=10000)
    assert panel.today.text() == "Today so far: 100 (1 visit)"
    assert panel.usual.text() == "Usual for Mon 14:00–15:00: 50 (n = 1 day, 1 visit)"
    assert panel.shown is not None and panel.shown.day == dt.date(2026, 6, 15)


def test_the_grid_shows_today_across_cameras_too(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    panel = window.grid.today
    panel.now = lambda: NOW
    window.live_views.setCurrentWidget(window.grid)  # several cameras: the grid replaces the single view
    assert panel.isVisibleTo(window.grid) and panel.timer.isActive()
    add_session(window.engine(), utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 8), "happy")], camera="till")
    add_session(window.engine(), utc(2026, 6, 15, 7), [(utc(2026, 6, 15, 9), "sad")], camera="seating")
    window.on_failed("camera 7 is not available")  # a session ends: both panels read again
    qtbot.waitUntil(lambda: not panel.loading and panel.shown is not None and panel.shown.today.visits == 2,
                    timeout=10000)
    assert panel.today.text() == "Today so far: 55 (2 visits)"  # 50 x (1 + (1 - 0.8) / 2)


def test_a_hidden_panel_reads_nothing_until_it_is_shown(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    window.show()
    grid_panel = window.grid.today  # behind the single view: two panels must not read the database twice
    asked: list[object] = []
    monkeypatch.setattr(grid_panel.loader, "load", lambda fn: asked.append(fn) or 0)
    window.live_views.setCurrentWidget(window.grid)
    window.live_views.setCurrentWidget(window.live)
    assert asked == []  # shown with nothing due: no read
    grid_panel.timer.timeout.emit()
    assert asked == [] and not grid_panel.isVisible()
    window.live_views.setCurrentWidget(window.grid)  # several cameras: now it is the one on screen
    assert grid_panel.isVisible() and len(asked) == 1  # the read that was due
    grid_panel.timer.timeout.emit()
    assert len(asked) == 2
