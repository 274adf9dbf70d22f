"""Capture with fake sources: ending, vanishing, frozen, blocking, and the latest-frame slot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from cafe_monitor import capture as capture_module
from cafe_monitor.capture import (
    CameraState,
    CaptureThread,
    DeviceReader,
    Frame,
    LatestFrameSlot,
    RateMeter,
    SourceError,
    WatchdogConfig,
    is_live,
)
from cafe_monitor.clock import ManualClock, MonotonicClock

FAST = WatchdogConfig(stall_seconds=0.3, frozen_frames=5, backoff_initial=0.05, backoff_max=0.1)
#: FAST without the real-time stall: for tests of failed reads and frozen frames, which a
#: 0.3 s pause of a loaded machine (a garbage collection, another process) must not disturb
STEADY = WatchdogConfig(stall_after=30, stall_seconds=30, frozen_frames=5, backoff_initial=0.05, backoff_max=0.1)


def image(i: int) -> np.ndarray:
    return np.full((8, 8, 3), i % 256, np.uint8)


class FakeReader:
    """A camera or file stand-in. Records who reads and who releases it, and any call made on
    it after release (or a release during a read), which would crash a real driver."""

    def __init__(self, frames: int | None = None, frozen_after: int | None = None, fail_after: int | None = None,
                 block_after: int | None = None, opened: bool = True, hang: float = 5.0,
                 unblock: threading.Event | None = None) -> None:
        self.frames, self.frozen_after = frames, frozen_after
        self.fail_after, self.block_after = fail_after, block_after
        self.opened = opened
        self.hang = hang  # how long a blocking read() hangs before it returns
        self.unblock = unblock or threading.Event()  # set: hanging reads return at once
        self.n = 0
        self.released = False
        self.in_read = False
        self.hanging = False  # in a blocking read(), after the last frame it gave out
        self.misuse: list[str] = []
        self.read_by: set[int] = set()  # threads that called read()
        self.released_by: int | None = None
        self.last_frame_at: float | None = None  # time.monotonic() of the last frame given out

    def _check(self, call: str) -> None:
        if self.released:
            self.misuse.append(call)
            raise RuntimeError(f"{call}() on a released reader")

    def isOpened(self) -> bool:
        self._check("isOpened")
        return self.opened

    def read(self) -> tuple[bool, np.ndarray | None]:
        self._check("read")
        self.read_by.add(threading.get_ident())
        self.in_read = True
        try:
            if self.block_after is not None and self.n >= self.block_after:
                self.hanging = True
                try:
                    self.unblock.wait(self.hang)  # a driver that hangs, then gives up
                finally:
                    self.hanging = False
                return False, None
            if (self.frames is not None and self.n >= self.frames) or (
                    self.fail_after is not None and self.n >= self.fail_after):
                return False, None
            self.n += 1
            if self.frozen_after is not None and self.n > self.frozen_after:
                return True, image(self.frozen_after)
            time.sleep(0.002)
            self.last_frame_at = time.monotonic()
            return True, image(self.n)
        finally:
            self.in_read = False

    def release(self) -> None:
        if self.in_read:
            self.misuse.append("release during read")
        if self.released:
            self.misuse.append("release twice")
        self.released = True
        self.released_by = threading.get_ident()

    def get(self, prop: int) -> float:
        self._check("get")
        return 25.0


def drain_until(cap: CaptureThread, done: Callable[[list[Frame]], bool], what: str,
                seconds: float = 30.0) -> list[Frame]:
    """Take frames until `done(frames)`; `seconds` is a safety net, not a bound."""
    got: list[Frame] = []
    end = time.monotonic() + seconds
    while not done(got):
        assert time.monotonic() < end and not cap.slot.closed, f"no {what} within {seconds:.0f} s"
        f = cap.slot.get(timeout=0.05)
        if f is not None:
            got.append(f)
            cap.frame_taken()
    return got


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
    frames = drain(cap, 30)  # until the file ends (a safety net, not a bound)
    cap.join(2)
    assert [f.index for f in frames] == list(range(20))
    assert cap.state is CameraState.ENDED
    assert frames[1].timestamp == pytest.approx(1 / 25)  # media time for files


def test_file_loops_when_asked() -> None:
    cap = CaptureThread("clip.mp4", loop=True, opener=lambda s: FakeReader(frames=5))
    cap.open_or_raise()
    cap.start()
    frames = drain_until(cap, lambda got: len(got) > 10, "11 frames of a 5-frame file")
    cap.stop()
    assert len(frames) > 10


@pytest.mark.parametrize("source", ["0", "clip.mp4"])
def test_close_releases_a_source_opened_but_never_started(source: str) -> None:
    """A monitor whose other camera failed, or a session finished before its first frame:
    the device opened to check the source is released by close(), without a thread."""
    reader = FakeReader(frames=5)
    cap = CaptureThread(source, opener=lambda s: reader)
    cap.open_or_raise()
    assert not cap.finished
    cap.close()
    assert reader.released and reader.released_by == threading.get_ident() and reader.misuse == []
    assert cap.ident is None and cap.finished


def test_close_stops_a_started_source_and_its_thread_releases_it() -> None:
    reader = FakeReader()  # a camera that never ends by itself
    cap = CaptureThread("0", opener=lambda s: reader)
    cap.open_or_raise()
    cap.start()
    assert drain_until(cap, bool, "a frame") and not cap.finished
    cap.close()
    assert cap.finished and reader.released and reader.released_by in reader.read_by and reader.misuse == []


def test_missing_source_is_a_clear_error() -> None:
    cap = CaptureThread("nope.mp4", opener=lambda s: FakeReader(opened=False))
    with pytest.raises(SourceError, match="nope.mp4"):
        cap.open_or_raise()


def test_vanishing_camera_reconnects_and_records_gap() -> None:
    readers = [FakeReader(fail_after=10), FakeReader(opened=False), FakeReader()]
    cap = CaptureThread(0, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=STEADY)
    cap.open_or_raise()
    cap.start()
    frames = drain_until(cap, lambda got: cap.reconnects >= 1 and len(got) > 15, "reconnect and 16 frames")
    cap.stop()
    assert cap.reconnects == 1 and len(cap.gaps) == 1
    assert len(frames) > 15 and cap.state in (CameraState.LIVE, CameraState.RECONNECTING)


def test_frozen_camera_is_detected_and_reopened() -> None:
    readers = [FakeReader(frozen_after=3), FakeReader()]
    cap = CaptureThread(0, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=STEADY)
    cap.open_or_raise()
    cap.start()
    healthy = readers[-1]
    drain_until(cap, lambda got: cap.reconnects >= 1 and healthy.n >= 20, "reopened camera's 20 frames")
    cap.stop()
    assert cap.reconnects == 1 and cap.state is CameraState.LIVE


def watch_states(cap: CaptureThread, seconds: float, until: list[CameraState] | None = None,
                 ) -> tuple[list[Frame], list[tuple[float, CameraState]]]:
    """Drain frames for `seconds` (or until the states seen end with `until`), noting each
    change of camera state with its time."""
    got: list[Frame] = []
    changes: list[tuple[float, CameraState]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not changes or changes[-1][1] is not cap.state:
            changes.append((time.monotonic(), cap.state))
            if until is not None and [s for _, s in changes[-len(until):]] == until:
                break
        f = cap.slot.get(timeout=0.005)
        if f is not None:
            got.append(f)
    return got, changes


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    """Until `condition()` holds (a thread has done its part); a safety net, not a bound."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def test_blocking_read_is_a_stall() -> None:
    """live -> stalled after `stall_after` -> reconnecting after `stall_seconds` -> live again,
    by the watchdog's clock (advanced here by hand); the hung device is released by the
    thread that was reading it, once its read returns."""
    clock = ManualClock()
    wd = WatchdogConfig(stall_after=0.5, stall_seconds=1.0, frozen_frames=5, backoff_initial=0.25, backoff_max=0.5)
    hung, healthy = FakeReader(block_after=3, hang=30), FakeReader()
    readers = [hung, healthy]
    cap = CaptureThread(0, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=wd,
                        clock=clock)
    cap.open_or_raise()
    cap.start()
    wait_until(lambda: cap.frames_read == 3 and clock.waiting("capture"), "the hung camera's three frames")
    silent_since, step = clock(), 1 / 32
    at: dict[CameraState, float] = {CameraState.LIVE: 0.0}  # first time (s of silence) of each state
    while cap.reconnects == 0:
        assert clock() - silent_since < 5, at
        clock.advance(step)
        at.setdefault(cap.state, clock() - silent_since)
    wait_until(lambda: cap.state is CameraState.LIVE, "the healthy camera's frames")
    frames = [f for f in (cap.slot.get(timeout=30) for _ in range(6)) if f is not None]
    cap.stop()
    cap.join(2)
    tick = 0.1  # the watchdog looks this often (a quarter of stall_after, at most 0.1 s)
    assert list(at) == [CameraState.LIVE, CameraState.STALLED, CameraState.RECONNECTING]
    assert 0.5 <= at[CameraState.STALLED] <= 0.5 + tick + step  # the issue: 'stalled' within 2 s
    assert 1.0 <= at[CameraState.RECONNECTING] <= 1.0 + tick + step
    assert cap.reconnects == 1 and len(cap.gaps) == 1 and len(frames) == 6
    assert not hung.released  # its read() still hangs: nobody may release it under the driver
    hung.unblock.set()
    wait_until(lambda: hung.released, "the hung device's release")
    assert hung.released_by in hung.read_by and len(hung.read_by) == 1
    assert hung.misuse == [] and healthy.misuse == []


def test_healthy_camera_is_read_by_one_thread() -> None:
    before = threading.active_count()
    reader = FakeReader()
    cap = CaptureThread(0, opener=lambda s: reader, watchdog=STEADY)
    cap.open_or_raise()
    cap.start()
    most, deadline = 0, time.monotonic() + 30
    while reader.n <= 50 and time.monotonic() < deadline:
        drain(cap, 0.01)
        most = max(most, threading.active_count())
    cap.stop()
    cap.join(2)
    assert reader.n > 50 and len(reader.read_by) == 1  # no thread per read()
    assert most <= before + 2  # the watchdog and the one reader
    assert reader.released_by in reader.read_by and reader.misuse == []


def started_hanging_camera(make: Callable[[], FakeReader]) -> tuple[CaptureThread, list[FakeReader]]:
    """Camera 0 on a fast watchdog (at most two hung reads), started; each (re)open is a new
    `make()`, kept in the returned list."""
    opened: list[FakeReader] = []

    def opener(source: str | int) -> FakeReader:
        opened.append(make())
        return opened[-1]

    cap = CaptureThread(0, opener=opener, watchdog=WatchdogConfig(
        stall_after=0.04, stall_seconds=0.08, backoff_initial=0.01, backoff_max=0.02, max_abandoned=2))
    cap.open_or_raise()
    cap.start()
    return cap, opened


def test_twenty_stalls_keep_the_thread_count_flat() -> None:
    """Every device hangs after one frame (its read() returns a little later): each stall
    abandons a reader that ends by itself; threads never pile up, no call hits a released device."""
    before = threading.active_count()
    cap, opened = started_hanging_camera(lambda: FakeReader(block_after=1, hang=0.25))
    wd = cap.watchdog
    most, deadline = 0, time.monotonic() + 20
    while cap.reconnects < 20 and time.monotonic() < deadline:
        drain(cap, 0.01)
        most = max(most, threading.active_count())
    cap.stop()
    cap.join(2)
    assert cap.reconnects >= 20
    assert most <= before + 2 + wd.max_abandoned  # watchdog + reader + the abandoned still hanging
    deadline = time.monotonic() + 3  # every hanging read() returns and its thread lets go of the device
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= before
    assert all(r.released and r.released_by in r.read_by and len(r.read_by) == 1 for r in opened)
    assert [m for r in opened for m in r.misuse] == []


def test_reads_that_never_return_do_not_pile_up() -> None:
    """A driver whose reads hang for good: after `max_abandoned` hung devices no more are
    opened (each would hold a thread), and the camera stays 'reconnecting'."""
    unblock = threading.Event()
    before = threading.active_count()
    cap, opened = started_hanging_camera(lambda: FakeReader(block_after=1, hang=60, unblock=unblock))
    wd = cap.watchdog
    most, deadline = 0, time.monotonic() + 30
    while cap.abandoned_readers < wd.max_abandoned and time.monotonic() < deadline:
        drain(cap, 0.01)
        most = max(most, threading.active_count())
    end = time.monotonic() + 0.5  # as long again as two stalls took on an idle machine: no third device
    while time.monotonic() < end:
        drain(cap, 0.01)
        most = max(most, threading.active_count())
    try:
        assert cap.state is CameraState.RECONNECTING
        assert len(opened) == cap.abandoned_readers == wd.max_abandoned
        assert most <= before + 2 + wd.max_abandoned
        assert not any(r.released for r in opened)  # their reads still hang
    finally:
        cap.stop()
        unblock.set()
        cap.join(2)
    deadline = time.monotonic() + 3
    while not all(r.released for r in opened) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(r.released and r.released_by in r.read_by for r in opened)
    assert [m for r in opened for m in r.misuse] == []


def test_rate_is_over_the_last_seconds_not_the_lifetime() -> None:
    now = [0.0]
    meter = RateMeter(window=5.0, clock=lambda: now[0])
    for i in range(300):  # 30 fps for 10 s
        now[0] = i / 30
        meter.tick()
    now[0] = 10.0
    assert meter.rate() == pytest.approx(30, abs=0.5)
    now[0] = 13.0  # 3 s without a frame: 2 s of the window still hold frames
    assert meter.rate() == pytest.approx(12, abs=0.5)  # a lifetime average would say 23
    now[0] = 15.1
    assert meter.rate() == 0.0


def test_input_fps_falls_when_the_camera_stalls() -> None:
    clock = ManualClock()
    wd = WatchdogConfig(stall_after=0.25, stall_seconds=30)
    reader = FakeReader(block_after=200, hang=30)
    cap = CaptureThread(0, opener=lambda s: reader, watchdog=wd, clock=clock)
    cap.open_or_raise()
    cap.start()
    try:
        wait_until(lambda: cap.frames_read == 200 and clock.waiting("capture"), "200 frames")
        assert cap.input_fps == 200  # all within the first second of the clock
        for _ in range(5):
            clock.advance(0.0625)
        assert cap.state is CameraState.STALLED and cap.seconds_since_frame() == 0.3125
        clock.advance(5.0)
        assert cap.input_fps == 0  # the window slides past the last frame
    finally:
        cap.stop()
        reader.unblock.set()
        cap.join(2)


def test_live_source_drops_stale_frames_for_a_slow_consumer() -> None:
    cap = CaptureThread(0, opener=lambda s: FakeReader(), watchdog=STEADY)
    cap.open_or_raise()
    cap.start()
    # 21 read: the 20th is in the slot (a frame is counted before it is put there)
    wait_until(lambda: cap.frames_read >= 21, "21 frames")  # consumer busy: frames must be dropped, not queued
    newest = cap.slot.get(timeout=0)
    cap.stop()
    assert newest is not None and newest.index >= 19 and cap.slot.dropped >= 19


class StillScene(FakeReader):
    """A live camera looking at a dark, closed café: every frame the same picture."""

    def read(self) -> tuple[bool, np.ndarray | None]:
        self._check("read")
        self.n += 1
        time.sleep(0.002)
        return True, image(0)


def test_a_still_scene_is_a_live_camera_not_a_reconnect_every_few_seconds() -> None:
    """Identical frames that keep arriving (a dark café all night) are a live camera: at most
    one reopen to rule out a stuck driver, not one every `frozen_frames` frames."""
    cap = CaptureThread(0, opener=lambda s: StillScene(), watchdog=STEADY)  # frozen after 5 frames
    cap.open_or_raise()
    cap.start()
    got = 0
    deadline = time.monotonic() + 30  # a safety net; the test waits on frames, not time
    while cap.frames_read < 40 * STEADY.frozen_frames and time.monotonic() < deadline:
        got += cap.slot.get(timeout=0.05) is not None
    cap.stop()
    assert cap.frames_read >= 40 * STEADY.frozen_frames
    assert cap.reconnects <= 1 and cap.state is CameraState.LIVE


@pytest.mark.parametrize("path", ["/dev/video0", "/dev/v4l/by-id/usb-cam-video-index0"])
def test_a_device_path_is_a_camera_not_a_file(path: str) -> None:
    """/dev/video0 is opened as a camera: live (reconnected, wall-clock time), never read as
    a file that ends."""
    assert is_live(path)
    readers = [FakeReader(fail_after=5), FakeReader()]
    cap = CaptureThread(path, opener=lambda s: readers.pop(0) if len(readers) > 1 else readers[0], watchdog=STEADY)
    assert cap.live and not cap.blocking
    cap.open_or_raise()
    cap.start()
    frames: list[Frame] = []
    deadline = time.monotonic() + 30
    while cap.reconnects < 1 or len(frames) < 10:
        assert time.monotonic() < deadline and cap.state is not CameraState.ENDED
        f = cap.slot.get(timeout=0.05)
        if f is not None:
            frames.append(f)
    cap.stop()
    assert frames[-1].timestamp > 1e9  # wall-clock seconds, not media time


def test_a_camera_not_there_yet_is_waited_for_with_backoff() -> None:
    """A camera enumerated after login: no error at start; the capture says what it waits for
    ("camera 0 not found, retrying in N s") and records once the camera appears."""
    appears = threading.Event()
    healthy = FakeReader()
    attempts: list[float] = []

    def opener(source: str | int) -> FakeReader:
        attempts.append(time.monotonic())
        return healthy if appears.is_set() else FakeReader(opened=False)

    cap = CaptureThread(0, opener=opener, watchdog=WatchdogConfig(backoff_initial=0.02, backoff_max=0.05))
    cap.open_or_raise()  # no SourceError: the camera may come later
    cap.start()
    notes: list[str] = []
    deadline = time.monotonic() + 30
    while len(attempts) < 4 or not notes:
        assert time.monotonic() < deadline
        note = cap.retry_note()
        if note is not None:
            notes.append(note)
        time.sleep(0.002)
    assert cap.state is CameraState.RECONNECTING
    assert all(n.startswith("camera 0 not found, retrying in ") and n.endswith(" s") for n in notes)
    appears.set()
    assert cap.slot.get(timeout=30) is not None
    cap.stop()
    assert cap.retry_note() is None and len(cap.gaps) == 1


def test_a_missing_camera_path_is_waited_for_but_a_missing_file_is_an_error() -> None:
    CaptureThread("/dev/video9", opener=lambda s: FakeReader(opened=False)).open_or_raise()
    with pytest.raises(SourceError, match="nope.mp4"):
        CaptureThread("nope.mp4", opener=lambda s: FakeReader(opened=False)).open_or_raise()


def test_a_stream_opened_long_before_it_is_read_is_opened_again() -> None:
    """The monitor opens every source, then waits for its database (a minute, in
    benchmarks/faults.py): the stream's buffered frames from then were read as live ones and
    made a visit of a customer long gone. Opened again when first read that late."""
    class MinuteLater(MonotonicClock):
        """The real clock, jumped on by `offset` seconds once the stream is open."""

        offset = 0.0

        def __call__(self) -> float:
            return time.monotonic() + self.offset

    clock = MinuteLater()
    readers = [FakeReader(), FakeReader()]
    first, second = readers
    # STEADY: its 30 s stall is still under the minute, and a reopened stream slow with its first
    # frame on a busy machine is not abandoned (then a fresh one, not an IndexError, is opened)
    cap = CaptureThread("http://cam/stream", opener=lambda s: readers.pop(0) if readers else FakeReader(),
                        clock=clock, watchdog=STEADY)
    cap.open_or_raise()
    clock.offset = 60.0  # a minute waiting for the database
    cap.start()
    assert drain_until(cap, bool, "a frame")
    cap.close()
    assert first.released and not first.read_by and first.misuse == [] and second.read_by and not readers


def test_a_failed_read_is_seen_at_once_even_while_its_thread_winds_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader wakes the watchdog when it lets go of its device; a thread slow to end after
    that (descheduled on a busy machine) must not make the watchdog take it for still reading
    and wait another tick. Shown on a clock that never moves: only the wake can act."""
    let_end = threading.Event()

    class SlowToEnd(DeviceReader):
        def run(self) -> None:
            super().run()
            let_end.wait(30)  # woke the watchdog, not ended yet

    monkeypatch.setattr(capture_module, "DeviceReader", SlowToEnd)
    clock = ManualClock()
    cap = CaptureThread(0, opener=lambda s: FakeReader(fail_after=3), clock=clock, watchdog=STEADY)
    cap.open_or_raise()
    cap.start()
    try:
        wait_until(lambda: cap.state is CameraState.RECONNECTING, "the failed read's reconnect")
    finally:
        let_end.set()
        cap.stop()
        cap.join(5)
