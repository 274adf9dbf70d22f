"""Capture with fake sources: ending, vanishing, frozen, blocking, and the latest-frame slot."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from cafe_monitor.capture import CameraState, CaptureThread, Frame, LatestFrameSlot, SourceError, WatchdogConfig

FAST = WatchdogConfig(stall_seconds=0.3, frozen_frames=5, backoff_initial=0.05, backoff_max=0.1)


def image(i: int) -> np.ndarray:
    return np.full((8, 8, 3), i % 256, np.uint8)


class FakeReader:
    def __init__(self, frames: int | None = None, frozen_after: int | None = None, fail_after: int | None = None,
                 block_after: int | None = None, opened: bool = True) -> None:
        self.frames, self.frozen_after = frames, frozen_after
        self.fail_after, self.block_after = fail_after, block_after
        self.opened = opened
        self.n = 0

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.block_after is not None and self.n >= self.block_after:
            threading.Event().wait(5)  # a driver that hangs
        if (self.frames is not None and self.n >= self.frames) or (
                self.fail_after is not None and self.n >= self.fail_after):
            return False, None
        self.n += 1
        if self.frozen_after is not None and self.n > self.frozen_after:
            return True, image(self.frozen_after)
        time.sleep(0.002)
        return True, image(self.n)

    def release(self) -> None:
        pass

    def get(self, prop: int) -> float:
        return 25.0


def drain(cap: CaptureThread, seconds: float) -> list[Frame]:
    got: list[Frame] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        f = cap.slot.get(timeout=0.05)
        if f is not None:
            got.append(f)
            cap.frame_taken()
        elif cap.slot.closed:
            break
    return got


def test_slot_keeps_latest_and_counts_drops() -> None:
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(Frame(image(i), i, float(i)))
    f = slot.get(timeout=0)
    assert f is not None and f.index == 4 and slot.dropped == 4
    assert slot.get(timeout=0.01) is None  # nothing newer


def test_file_source_ends_cleanly_with_every_frame() -> None:
    cap = CaptureThread("clip.mp4", opener=lambda s: FakeReader(frames=20))
    cap.open_or_raise()
    cap.start()
    frames = drain(cap, 3)
    cap.join(2)
    assert [f.index for f in frames] == list(range(20))
    assert cap.state is CameraState.ENDED
    assert frames[1].timestamp == pytest.approx(1 / 25)  # media time for files


def test_file_loops_when_asked() -> None:
    cap = CaptureThread("clip.mp4", loop=True, opener=lambda s: FakeReader(frames=5))
    cap.open_or_raise()
    cap.start()
    frames = drain(cap, 0.5)
    cap.stop()
    assert len(frames) > 10


def test_missing_source_is_a_clear_error() -> None:
    cap = CaptureThread("nope.mp4", opener=lambda s: FakeReader(opened=False))
    with pytest.raises(SourceError, match="nope.mp4"):
        cap.open_or_raise()


def test_vanishing_camera_reconnects_and_records_gap() -> None:
    readers = [FakeReader(fail_after=10), FakeReader(opened=False), FakeReader()]
    cap = CaptureThread(0, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=FAST)
    cap.open_or_raise()
    cap.start()
    frames = drain(cap, 1.5)
    cap.stop()
    assert cap.reconnects == 1 and len(cap.gaps) == 1
    assert len(frames) > 15 and cap.state in (CameraState.LIVE, CameraState.RECONNECTING)


def test_frozen_camera_is_detected_and_reopened() -> None:
    readers = [FakeReader(frozen_after=3), FakeReader()]
    cap = CaptureThread(0, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=FAST)
    cap.open_or_raise()
    cap.start()
    drain(cap, 1.0)
    cap.stop()
    assert cap.reconnects == 1


def test_blocking_read_is_a_stall() -> None:
    readers = [FakeReader(block_after=3), FakeReader()]
    cap = CaptureThread(0, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=FAST)
    cap.open_or_raise()
    cap.start()
    frames = drain(cap, 1.5)
    cap.stop()
    assert cap.reconnects == 1 and len(frames) > 5


def test_live_source_drops_stale_frames_for_a_slow_consumer() -> None:
    cap = CaptureThread(0, opener=lambda s: FakeReader(), watchdog=FAST)
    cap.open_or_raise()
    cap.start()
    time.sleep(0.3)  # consumer busy: frames must be dropped, not queued
    got = drain(cap, 0.1)
    cap.stop()
    assert cap.slot.dropped > 10 and len(got) < 60
