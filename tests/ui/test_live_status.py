"""The dashboard's status line tells the truth about the camera (issue 16, item 1)."""

from __future__ import annotations

import functools

import pytest
from PyQt6.QtCore import Qt

from cafe_monitor import session as session_module
from cafe_monitor.capture import CameraState, CaptureThread, WatchdogConfig
from cafe_monitor.clock import ManualClock
from cafe_monitor.config import Settings
from cafe_monitor.scoring import score_visits
from cafe_monitor.session import LiveState
from cafe_monitor.ui.app import MainWindow
from cafe_monitor.ui.live import LiveView
from tests.test_capture import FakeReader


def state(camera: CameraState, frame_age: float | None = None) -> LiveState:
    return LiveState(frame=None, faces=[], score=score_visits([]), camera=camera, input_fps=0.4,
                     processing_fps=12.2, dropped=3, provider="CPUExecutionProvider", recent_mix={},
                     visits_done=0, session_id=4, frame_age=frame_age)


def test_stalled_camera_reads_differently_from_live() -> None:
    stalled = state(CameraState.STALLED, frame_age=3.2)
    assert LiveView.status_text(stalled).startswith("Camera: stalled – no frame for 3 s   Input 0 fps   "
                                                    "Processing 12 fps")
    assert LiveView.CAMERA_ATTENTION_COLOURS[CameraState.STALLED] in LiveView.status_markup(stalled)
    live = state(CameraState.LIVE, frame_age=0.01)
    assert LiveView.status_text(live).startswith("Camera: live   ")
    assert "color" not in LiveView.status_markup(live)
    for shown in (live, stalled):  # the window's label takes it as rich text: no literal "&nbsp;"
        assert Qt.mightBeRichText(LiveView.status_markup(shown))
    db = state(CameraState.LIVE)
    db.db_error = "database is <locked>"
    assert "&lt;locked&gt;" in LiveView.status_markup(db)  # error text is shown, not taken for markup


def test_window_shows_a_hung_camera_as_stalled(qtbot, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Stalled after a second of the capture's clock (advanced here by hand), and counting."""
    clock = ManualClock()
    hung = FakeReader(block_after=10, hang=30)
    monkeypatch.setattr(session_module, "opener_for", lambda settings, source: lambda s: hung)
    monkeypatch.setattr(session_module, "CaptureThread", functools.partial(
        CaptureThread, watchdog=WatchdogConfig(stall_after=1.0, stall_seconds=60), clock=clock))
    window = MainWindow(Settings(), db_url=db_url)
    qtbot.addWidget(window)
    window.resize(1200, 760)
    window.show()
    try:
        window.start("0")
        qtbot.waitUntil(lambda: "Camera: live" in window.status.text() and hung.n == 10 and hung.in_read
                        and clock.waiting("capture") and clock.waiting("status"), timeout=30000)
        for _ in range(12):  # 0.75 s of silence
            clock.advance(1 / 16)
        assert "stalled" not in window.status.text()
        for _ in range(8):  # 1.25 s: stalled at the watchdog's tick after 1 s
            clock.advance(1 / 16)
        qtbot.waitUntil(lambda: "stalled – no frame for 1 s" in window.status.text(), timeout=30000)
        assert LiveView.CAMERA_ATTENTION_COLOURS[CameraState.STALLED] in window.status.text()
        for _ in range(12):  # 2 s
            clock.advance(1 / 16)
        qtbot.waitUntil(lambda: "no frame for 2 s" in window.status.text(), timeout=30000)  # still counting
    finally:
        window.stop()
        hung.unblock.set()
        if window.worker is not None:
            window.worker.wait(10)
