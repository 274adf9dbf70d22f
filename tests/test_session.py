from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from cafe_monitor.capture import CameraState, CaptureThread, Frame, WatchdogConfig
from cafe_monitor.clock import MONOTONIC, Clock, ManualClock
from cafe_monitor.config import Settings, parse
from cafe_monitor.pipeline import FrameResult
from cafe_monitor.scoring import score_visits
from cafe_monitor.session import (
    CHECKPOINT_SECONDS,
    PUBLISH_SECONDS,
    LiveState,
    MonitorSession,
    RecentMix,
    SessionStatus,
    StatusPublisher,
)
from tests.conftest import NO_SPARE_TIME
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

def status_of(capture: CaptureThread | None = None, clock: Clock | None = None) -> SessionStatus:
    capture = capture or CaptureThread(0, opener=lambda s: FakeReader(), clock=clock or MONOTONIC)
    return SessionStatus(capture, "CPUExecutionProvider", score_visits([]), clock=clock)


def result(index: int) -> FrameResult:
    return FrameResult(image=np.zeros((8, 8, 3), np.uint8), index=index, timestamp=index / 30, faces=[],
                       ended_visits=[], detections=0)


def test_processing_fps_is_over_the_last_five_seconds() -> None:
    clock = ManualClock(start=0.0)
    status = status_of(clock=clock)
    for _ in range(300):  # 30 frames a second for 10 s
        status.frame_done(result(0), score=score_visits([]), recent_mix={}, visits_done=0)
        clock.advance(1 / 30)
    assert status.snapshot().processing_fps == pytest.approx(30, abs=0.5)
    clock.advance(3.0)  # 3 s without frames; a lifetime average would still say 23
    assert status.snapshot().processing_fps == pytest.approx(12, abs=0.5)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Until `condition()` holds (a thread has done its part); a safety net, not a bound."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_status_is_published_while_no_frame_comes() -> None:
    """Every PUBLISH_SECONDS of the clock a snapshot, with no frame at all; none in between."""
    clock = ManualClock()
    status = status_of(clock=clock)
    seen: list[float] = []
    publisher = StatusPublisher(status, lambda s: seen.append(clock()))
    publisher.start()
    try:
        wait_until(lambda: clock.waiting("status"), "the publisher's first wait")
        start = clock()
        for _ in range(13):  # 1.625 s in steps of 1/8 s
            clock.advance(0.125)
    finally:
        publisher.stop()
    timer = [t - start for t in seen[:-1]]  # the last one is stop()'s
    assert PUBLISH_SECONDS == 0.25 and timer == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]  # at once, never late or early
    assert max(b - a for a, b in pairwise(timer)) == PUBLISH_SECONDS


def test_a_frame_is_published_at_once_and_stays_in_the_status() -> None:
    """A frame is published without the clock moving at all: not after the 5 s timer."""
    clock = ManualClock()
    status = status_of(clock=clock)
    seen: list[tuple[float, LiveState]] = []
    publisher = StatusPublisher(status, lambda s: seen.append((clock(), s)), interval=5.0)
    publisher.start()
    try:
        wait_until(lambda: clock.waiting("status"), "the publisher's first wait")
        sent = clock()
        status.frame_done(result(7), score=score_visits([]), recent_mix={"happy": 1.0}, visits_done=2)
        wait_until(lambda: bool(seen), "the frame's snapshot")
    finally:
        publisher.stop()
    at, state = seen[0]
    assert at == sent and state.frame is not None and state.frame.index == 7
    assert state.visits_done == 2 and state.recent_mix["happy"] == 1.0
    last = seen[-1][1]  # the final snapshot on stop: still the newest frame
    assert len(seen) == 2 and last.frame is not None and last.frame.index == 7


def test_status_follows_the_camera_without_frames() -> None:
    """No frame reaches the session, yet its snapshots show the camera stalling: after
    `stall_after` of the clock, not before."""
    clock = ManualClock()
    reader = FakeReader(block_after=5, hang=30)
    capture = CaptureThread(0, opener=lambda s: reader, clock=clock,  # the watchdog looks every 1/16 s
                            watchdog=WatchdogConfig(stall_after=0.25, stall_seconds=30))
    status = status_of(capture)
    capture.open_or_raise()
    capture.start()
    try:
        wait_until(lambda: capture.frames_read == 5 and clock.waiting("capture"), "the fifth frame")
        for _ in range(3):  # 3/16 s of silence: still live
            clock.advance(0.0625)
        assert status.snapshot().camera is CameraState.LIVE
        clock.advance(0.0625)  # the watchdog's tick at 0.25 s of silence
        snap = status.snapshot()
        assert snap.camera is CameraState.STALLED and snap.frame is None
        assert snap.frame_age == 0.25
    finally:
        capture.stop()
        reader.unblock.set()
        capture.join(2)


def test_open_visits_are_checkpointed_every_quarter_second_of_the_clock(db_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a crash can lose of an open visit is set by the checkpoints' clock (the
    capture's): one every CHECKPOINT_SECONDS of it, however fast or slow frames come."""
    clock = ManualClock()
    capture = CaptureThread(0, opener=lambda s: FakeReader(), clock=clock)
    session = MonitorSession(Settings(), source="0", db_url=db_url, capture=capture)
    try:
        session.begin()
        assert session.writer is not None
        checkpoints: list[float] = []
        monkeypatch.setattr(session.writer, "checkpoint", lambda visits: checkpoints.append(clock()))
        start = clock()
        for i in range(32):  # 16 frames a second for 2 s
            clock.advance(1 / 16)
            session.process(Frame(np.zeros((48, 64, 3), np.uint8), i, i / 16, clock()))
        for i in range(32, 36):  # then one frame a second: checkpointed at each
            clock.advance(1.0)
            session.process(Frame(np.zeros((48, 64, 3), np.uint8), i, i / 16, clock()))
        session.finish()
    finally:
        session.pipeline.close()
    assert CHECKPOINT_SECONDS == 0.25
    assert [t - start for t in checkpoints] == [0.25 * k for k in range(1, 9)] + [3.0, 4.0, 5.0, 6.0]


@pytest.mark.media
def test_the_last_status_counts_the_visits_closed_at_the_end(customers_gif: Path) -> None:
    """A short clip's customers are still in view, or only just gone, when it ends: their
    visits close in `finish`. The dashboard's last status must count them, as the result does."""
    states: list[LiveState] = []
    session = MonitorSession(parse(NO_SPARE_TIME), source=str(customers_gif), store=False)
    result = session.run(on_state=states.append)
    assert len(result.visits) == 3 and result.score.score is not None
    last = states[-1].score
    assert last.visits == 3 and last.score == pytest.approx(result.score.score)
    assert states[-1].visits_done == 3
