"""The dashboard offscreen (pytest-qt): start/stop, no camera, region of interest,
history on a seeded database, export."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt

from cafe_monitor import storage
from cafe_monitor.config import Settings
from cafe_monitor.pipeline import Region
from cafe_monitor.tracking import Visit
from cafe_monitor.ui.app import MainWindow, load_regions

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


@pytest.fixture
def window(qtbot, db_url: str) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow(Settings(), db_url=db_url)
    qtbot.addWidget(w)
    w.resize(1200, 760)
    w.show()
    yield w
    if w.worker is not None:
        w.worker.stop()
        w.worker.wait(10)


def test_start_and_stop_on_a_video(qtbot, window: MainWindow, synthetic_clip: Path) -> None:  # type: ignore[no-untyped-def]
    window.start(str(synthetic_clip))
    assert not window.start_action.isEnabled() and window.stop_action.isEnabled()
    qtbot.waitUntil(lambda: "Camera:" in window.status.text(), timeout=20000)
    window.stop()
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=20000)
    assert window.start_action.isEnabled() and not window.stop_action.isEnabled()
    assert window.last_result.stats.frames > 0
    assert storage.get_session(window.engine(), "last").status == "ended"


def test_real_clip_draws_moods_and_scores(qtbot, window: MainWindow, media: Path) -> None:  # type: ignore[no-untyped-def]
    window.start(str(media / "intel_face-demographics-walking-and-pause.gif"))
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=30000)
    assert len(window.last_result.visits) == 3
    assert window.live.gauge.number.text() != "–"


def test_no_camera_shows_message_not_crash(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.start("7")  # no such camera here
    qtbot.waitUntil(lambda: window.live.banner_box.isVisible(), timeout=20000)
    assert "camera" in window.live.banner.text().lower()
    assert window.live.banner_button.isVisible()  # offers to open a file instead
    assert window.start_action.isEnabled()


def test_region_of_interest_drawn_and_persisted(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    video = window.live.video
    window.begin_region()
    w, h = video.width(), video.height()
    qtbot.mousePress(video, Qt.MouseButton.LeftButton, pos=QPoint(int(w * 0.5), int(h * 0.1)))
    qtbot.mouseMove(video, QPoint(int(w * 0.9), int(h * 0.9)))
    qtbot.mouseRelease(video, Qt.MouseButton.LeftButton, pos=QPoint(int(w * 0.9), int(h * 0.9)))
    r = window.live.region
    assert r.x1 == pytest.approx(0.5, abs=0.05) and r.x2 == pytest.approx(0.9, abs=0.05)
    saved = load_regions()[window.settings.camera.source]
    assert saved == [r.x1, r.y1, r.x2, r.y2]
    window.set_region(Region())
    assert window.live.region.is_full


def seed(url: str) -> int:
    engine = storage.open_database(url)
    day = dt.datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    sid = storage.start_session(engine, source="0", site="main", camera="counter", model_name="m",
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


def test_history_shows_seeded_day(qtbot, window: MainWindow, db_url: str) -> None:  # type: ignore[no-untyped-def]
    sid = seed(db_url)
    window.tabs.setCurrentIndex(1)
    window.history.refresh()
    assert window.history.sessions.rowCount() == 1
    assert "12 visits" in window.history.summary.text()
    window.history.open_session(sid)
    assert "Session" in window.history.session_plot.getPlotItem().titleLabel.text


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


def test_region_drawn_while_starting_applies_to_the_session(qtbot, window: MainWindow, media: Path) -> None:  # type: ignore[no-untyped-def]
    photo = media / "azure_faces_family6.jpg"
    window.start(str(photo))
    window.set_region(Region(0.0, 0.0, 0.5, 1.0))  # before the models have loaded
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=30000)
    state = window.worker.take()
    width = cv2.imread(str(photo)).shape[1]
    assert state is not None and 0 < len(state.faces) < 6
    assert all(f.box.centre[0] <= width / 2 for f in state.faces)
