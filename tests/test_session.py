from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest

from cafe_monitor.capture import CameraState, CaptureThread, WatchdogConfig
from cafe_monitor.pipeline import FrameResult
from cafe_monitor.scoring import score_visits
from cafe_monitor.session import LiveState, RecentMix, SessionStatus, StatusPublisher
from tests.test_capture import FakeReader


def test_recent_mix_is_a_sliding_mean() -> None:
    mix = RecentMix(seconds=10)
    happy, sad = np.eye(7)[3], np.eye(7)[4]
    for t in range(10):
        mix.add(float(t), [happy])
    mix.add(10.5, [sad, sad])
    # the window is the last 10 s: the frame at t=0 has just left it
    assert mix.mix()["happy"] == pytest.approx(9 / 11) and mix.mix()["sad"] == pytest.approx(2 / 11)
    mix.add(30.0, [])  # everything older than 10 s falls out
    assert mix.mix()["sad"] == 0.0 and len(mix._items) == 0


def test_recent_mix_memory_is_bounded_per_second() -> None:
    mix = RecentMix(seconds=300)
    for i in range(30 * 600):  # ten minutes at 30 fps
        mix.add(i / 30, [np.eye(7)[3]])
    assert len(mix._items) <= 302


# --- the session's status, apart from frames ---------------------------------------

def status_of(capture: CaptureThread | None = None, clock: Callable[[], float] = time.monotonic) -> SessionStatus:
    capture = capture or CaptureThread(0, opener=lambda s: FakeReader())
    return SessionStatus(capture, "CPUExecutionProvider", score_visits([]), clock=clock)


def result(index: int) -> FrameResult:
    return FrameResult(image=np.zeros((8, 8, 3), np.uint8), index=index, timestamp=index / 30, faces=[],
                       ended_visits=[], detections=0)


def test_processing_fps_is_over_the_last_five_seconds() -> None:
    now = [0.0]
    status = status_of(clock=lambda: now[0])
    for i in range(300):  # 30 frames a second for 10 s
        now[0] = i / 30
        status.frame_done(result(i), score=score_visits([]), recent_mix={}, visits_done=0)
    now[0] = 10.0
    assert status.snapshot().processing_fps == pytest.approx(30, abs=0.5)
    now[0] = 13.0  # 3 s without frames; a lifetime average would still say 23
    assert status.snapshot().processing_fps == pytest.approx(12, abs=0.5)


def test_status_is_published_while_no_frame_comes() -> None:
    status = status_of()
    seen: list[float] = []
    publisher = StatusPublisher(status, lambda s: seen.append(time.monotonic()))
    publisher.start()
    time.sleep(1.6)
    publisher.stop()
    assert len(seen) >= 2 * 1.6  # at least twice a second, with no frame at all
    assert max(b - a for a, b in pairwise(seen)) <= 0.5


def test_a_frame_is_published_at_once_and_stays_in_the_status() -> None:
    status = status_of()
    seen: list[tuple[float, LiveState]] = []
    publisher = StatusPublisher(status, lambda s: seen.append((time.monotonic(), s)), interval=5.0)
    publisher.start()
    try:
        time.sleep(0.05)
        sent = time.monotonic()
        status.frame_done(result(7), score=score_visits([]), recent_mix={"happy": 1.0}, visits_done=2)
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        publisher.stop()
    at, state = seen[0]
    assert at - sent < 1.0 and state.frame is not None and state.frame.index == 7  # not after the 5 s timer
    assert state.visits_done == 2 and state.recent_mix["happy"] == 1.0
    last = seen[-1][1]  # the final snapshot on stop: still the newest frame
    assert len(seen) == 2 and last.frame is not None and last.frame.index == 7


def test_status_follows_the_camera_without_frames() -> None:
    """No frame reaches the session, yet its snapshots show the camera stalling."""
    reader = FakeReader(block_after=5, hang=30)
    capture = CaptureThread(0, opener=lambda s: reader,
                            watchdog=WatchdogConfig(stall_after=0.2, stall_seconds=30))
    status = status_of(capture)
    capture.open_or_raise()
    capture.start()
    try:
        deadline = time.monotonic() + 3
        while status.snapshot().camera is not CameraState.STALLED and time.monotonic() < deadline:
            time.sleep(0.02)
        snap = status.snapshot()
        assert snap.camera is CameraState.STALLED and snap.frame is None
        assert snap.frame_age is not None and snap.frame_age >= 0.2
    finally:
        capture.stop()
        reader.unblock.set()
        capture.join(2)
