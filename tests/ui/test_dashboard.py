"""The dashboard offscreen (pytest-qt): start/stop, no camera, region of interest,
history on a seeded database, export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QDate, QPoint, Qt, QTime

from cafe_monitor import storage
from cafe_monitor.config import load, parse
from cafe_monitor.domain import Region
from cafe_monitor.tracking import Visit
from cafe_monitor.ui import app as app_module
from cafe_monitor.ui.app import MainWindow
from cafe_monitor.ui.worker import MonitorWorker
from tests.conftest import NO_SPARE_TIME

UTC = dt.timezone.utc


@pytest.fixture
def synthetic_clip(tmp_path: Path) -> Path:
    """A 2-second clip with no faces (works without ../shared)."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for i in range(50):
        frame = np.full((240, 320, 3), 40 + i, np.uint8)
        cv2.circle(frame, (40 + 4 * i, 120), 20, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def test_start_and_stop_on_a_video(qtbot, window: MainWindow, synthetic_clip: Path) -> None:  # type: ignore[no-untyped-def]
    window.start(str(synthetic_clip))
    assert not window.start_action.isEnabled() and window.stop_action.isEnabled()
    # a processed frame on screen, not only the status line (its timer shows "Camera: starting" first)
    qtbot.waitUntil(lambda: "Camera:" in window.status.text() and not window.live.video.pixmap().isNull(),
                    timeout=20000)
    window.stop()
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=20000)
    assert window.start_action.isEnabled() and not window.stop_action.isEnabled()
    assert window.last_result.stats.frames > 0
    assert storage.get_session(window.engine(), "last").status == "ended"


class UnpacedWorker(MonitorWorker):
    """The dashboard's worker reading files as fast as it can: paced like a camera, a busy
    machine drops frames, and what the clip's visits are would depend on the load."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **{**kwargs, "realtime": False})


def test_real_clip_draws_moods_and_scores(qtbot, window: MainWindow, customers_gif: Path,  # type: ignore[no-untyped-def]
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The three customers as three visits, counted on every frame at the planner's load-free plan."""
    monkeypatch.setattr(app_module, "MonitorWorker", UnpacedWorker)
    window.settings = parse(NO_SPARE_TIME)
    window.start(str(customers_gif))
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=30000)
    assert len(window.last_result.visits) == 3
    assert window.live.gauge.number.text() != "–"


def test_no_camera_shows_message_not_crash(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """A camera not there may be enumerated late (issue 23): the status line says it is waited
    for; Stop ends the wait and Start works again."""
    window.start("7")  # no such camera here
    qtbot.waitUntil(lambda: "camera 7 not found, retrying in " in window.status.text(), timeout=60000)
    assert window.stop_action.isEnabled() and not window.start_action.isEnabled()
    window.stop()
    qtbot.waitUntil(lambda: window.start_action.isEnabled(), timeout=60000)


def test_region_of_interest_drawn_and_persisted(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    video = window.live.video
    window.begin_region()
    w, h = video.width(), video.height()
    qtbot.mousePress(video, Qt.MouseButton.LeftButton, pos=QPoint(int(w * 0.5), int(h * 0.1)))
    qtbot.mouseMove(video, QPoint(int(w * 0.9), int(h * 0.9)))
    qtbot.mouseRelease(video, Qt.MouseButton.LeftButton, pos=QPoint(int(w * 0.9), int(h * 0.9)))
    r = window.live.region
    assert r.x1 == pytest.approx(0.5, abs=0.05) and r.x2 == pytest.approx(0.9, abs=0.05)
    assert load(window.settings_file).profile(window.settings.storage.camera_name).area == r  # settings.toml
    window.set_region(Region())
    assert window.live.region.is_full and load(window.settings_file).profile().area.is_full


def seed(url: str, site: str = "main") -> int:
    """A session of 12 visits from noon to 2 p.m. (the default clock's zone) yesterday:
    inside one business day whenever the test runs."""
    from cafe_monitor.localtime import CafeClock

    engine = storage.open_database(url)
    clock = CafeClock.of()
    yesterday = clock.business_day(dt.datetime.now(UTC)) - dt.timedelta(days=1)
    day = dt.datetime.combine(yesterday, dt.time(12), tzinfo=clock.tz).astimezone(UTC)
    sid = storage.start_session(engine, source="0", site=site, camera="counter", model_name="m",
                                model_sha256="0" * 64, provider="CPUExecutionProvider", settings={},
                                started_at=day)
    w = storage.SessionWriter(engine, sid, origin=day.timestamp(), flush_seconds=0.05)
    w.start()
    for i in range(12):
        d = np.zeros(7, np.float32)
        d[3 if i % 3 else 4] = 1.0  # two thirds happy, one third sad
        w.add_visit(Visit(i + 1, i * 600.0, i * 600.0 + 60, 50, d, 40.0))
        w.add_bucket(storage.TimelineBucket(w.to_datetime(i * 600.0), 25, 25, tuple(float(x) for x in d)))
    w.close("ended", ended_at=day + dt.timedelta(hours=2))
    return sid


def _show_day_of(window: MainWindow, qtbot, started: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    day = window.history.clock.business_day(started)
    window.history.day.setDate(QDate(day.year, day.month, day.day))
    window.history.refresh()
    qtbot.waitUntil(lambda: not window.history.loading and "loading" not in window.history.summary.text(),
                    timeout=10000)


def test_history_shows_seeded_day(qtbot, window: MainWindow, db_url: str) -> None:  # type: ignore[no-untyped-def]
    sid = seed(db_url)
    window.tabs.setCurrentIndex(1)
    _show_day_of(window, qtbot, storage.get_session(window.engine(), sid).started_at)
    assert window.history.sessions.rowCount() == 1
    assert "12 visits" in window.history.summary.text()
    zone = window.history.clock.name
    assert zone in window.history.hourly.getPlotItem().titleLabel.text  # the café's zone is named
    assert zone in window.history.sessions.horizontalHeaderItem(1).text()
    window.history.open_session(sid)
    qtbot.waitUntil(lambda: "loading" not in window.history.session_plot.getPlotItem().titleLabel.text,
                    timeout=10000)
    assert f"Session {sid}: score each second" in window.history.session_plot.getPlotItem().titleLabel.text


def test_history_loads_off_the_gui_thread_and_filters_by_site(qtbot, window: MainWindow,  # type: ignore[no-untyped-def]
                                                              db_url: str, monkeypatch) -> None:
    """A slow database never blocks the window: refresh() returns at once and the figures
    arrive later; choosing a site shows only that site's sessions."""
    import threading

    from cafe_monitor import history

    seed(db_url, "north")
    sid = seed(db_url, "south")
    started = storage.get_session(window.engine(), sid).started_at
    window.tabs.setCurrentIndex(1)
    _show_day_of(window, qtbot, started)
    assert window.history.sessions.rowCount() == 2
    real, gate, threads = history.load_day, threading.Event(), []

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        gate.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(history, "load_day", slow)
    window.history.site.setCurrentIndex(window.history.site.findData("south"))  # triggers a load
    assert window.history.loading  # still loading: the read waits for the gate, on its own thread
    assert "loading" in window.history.summary.text()
    gate.set()
    qtbot.waitUntil(lambda: not window.history.loading and window.history.sessions.rowCount() == 1, timeout=10000)
    assert threads and threads[0] is not threading.main_thread()
    assert window.history.sessions.item(0, 6).text() == "south / counter"
    assert "south" in window.history.summary.text()


def test_export_day_takes_the_site_shown(qtbot, window: MainWindow, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seed(db_url, "north")
    sid = seed(db_url, "south")
    started = storage.get_session(window.engine(), sid).started_at
    window.tabs.setCurrentIndex(1)
    _show_day_of(window, qtbot, started)
    window.history.site.setCurrentIndex(window.history.site.findData("south"))
    qtbot.waitUntil(lambda: not window.history.loading and window.history.sessions.rowCount() == 1, timeout=10000)
    day = window.history.selected_day().isoformat()
    window.export("day", day, tmp_path / "out", ["json"])
    qtbot.waitUntil(lambda: window.status.text().startswith("Exported"), timeout=30000)
    doc = json.loads((tmp_path / "out" / f"day-{day}-south.json").read_text())
    assert doc["summary"]["visits"] == 12 and [s["site"] for s in doc["sessions"]] == ["south"]
    assert doc["time_zone"] == window.history.clock.name


def test_export_session_and_unwritable_path(qtbot, window: MainWindow, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sid = seed(db_url)
    window.export("session", str(sid), tmp_path / "out", ["pdf", "csv", "json"])
    qtbot.waitUntil(lambda: window.status.text().startswith("Exported"), timeout=30000)
    assert (tmp_path / "out" / f"session-{sid}.pdf").stat().st_size > 10_000
    doc = json.loads((tmp_path / "out" / f"session-{sid}.json").read_text())
    assert doc["summary"]["visits"] == 12
    window.export("day", dt.date.today().isoformat(), Path("/proc/not-writable"), ["pdf"])
    qtbot.waitUntil(lambda: window.status.text().startswith("Export failed"), timeout=30000)


def test_settings_dialog_validates(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    from cafe_monitor.ui.dialogs import SettingsDialog

    d = SettingsDialog(window.settings, window)
    qtbot.addWidget(d)
    d.valence["surprise"].setValue(0.0)
    d.retention.setValue(7)
    s = d.build()
    assert s.score.valence["surprise"] == 0.0 and s.privacy.retention_days == 7
    d.db.setText("nosuchdialect://x")
    d._save()
    assert "cannot" in d.error.text()
    d.db.setText("")
    d.time_zone.setCurrentText("America/Los_Angeles")
    d.day_start.setTime(QTime(5, 30))
    s = d.build()
    assert s.storage.time_zone == "America/Los_Angeles" and s.storage.clock().day_start == dt.time(5, 30)
    d.time_zone.setCurrentText("Mars/Olympus")
    d._save()
    assert "storage.time_zone" in d.error.text() and "Mars/Olympus" in d.error.text()


def test_region_drawn_while_starting_applies_to_the_session(qtbot, window: MainWindow, group_photo: Path) -> None:  # type: ignore[no-untyped-def]
    photo = group_photo
    window.start(str(photo))
    window.set_region(Region(0.0, 0.0, 0.5, 1.0))  # before the models have loaded
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=30000)
    state = window.worker.take()
    width = cv2.imread(str(photo)).shape[1]
    assert state is not None and 0 < len(state.faces) < 6
    assert all(f.box.centre[0] <= width / 2 for f in state.faces)


def test_live_timeline_reads_the_cafes_zone() -> None:
    import datetime as dt

    from cafe_monitor.localtime import CafeClock
    from cafe_monitor.ui.live import ScoreTimeline

    timeline = ScoreTimeline()
    assert timeline.axis.utcOffset is None  # the computer's zone until a café's is set
    sydney = CafeClock.of("Australia/Sydney")
    timeline.set_clock(sydney)
    offset = sydney.local(dt.datetime.now(dt.timezone.utc)).utcoffset()
    assert offset is not None and timeline.axis.utcOffset == -int(offset.total_seconds())  # +10 or +11 h east
    assert "Australia/Sydney" in timeline.plotItem.titleLabel.text
