"""The dashboard's status line tells the truth about the camera (issue 16, item 1)."""

from __future__ import annotations

import functools

import pytest
from PyQt6.QtCore import QCoreApplication, Qt

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
        # `hanging`, not `n == 10 and in_read`: the tenth read() counts its frame before it returns
        # it, so the frame could be stamped (by the clock) in the middle of the silence below
        qtbot.waitUntil(lambda: "Camera: live" in window.status.text() and hung.n == 10 and hung.hanging
                        and clock.waiting("capture") and clock.waiting("status"), timeout=30000)
        silent_since = clock()

        def advance_until(shown: str, most: float) -> float:
            """Advance the clock by 1/16 s until the status line shows `shown`; the seconds of
            silence then. Each state the status thread published is handed to the window before
            the next step, so no step's state is skipped, whatever the machine's load."""
            while shown not in window.status.text():
                assert clock() - silent_since < most, (shown, window.status.text())
                clock.advance(1 / 16)
                QCoreApplication.processEvents()  # the status thread's queued state, published before it settled
            return clock() - silent_since

        stalled_at = advance_until("stalled", most=1.4)
        assert stalled_at >= 1.0  # not before a second of silence by the capture's clock
        assert "stalled – no frame for 1 s" in window.status.text()
        assert LiveView.CAMERA_ATTENTION_COLOURS[CameraState.STALLED] in window.status.text()
        assert advance_until("no frame for 2 s", most=2.4) >= 1.5  # still counting
    finally:
        window.stop()
        hung.unblock.set()
        if window.worker is not None:
            window.worker.wait(10)
