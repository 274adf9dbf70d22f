"""Several cameras, one processing loop: each camera served in turn, its newest frame only.

Every camera's capture thread keeps only its latest frame (capture.LatestFrameSlot), so
a loop that visits the cameras round-robin, one frame per camera per turn, can never lag
behind a camera and, when the machine is too slow for all of them, processes each at the
same lower rate (the frames it had no time for are dropped and counted per camera).
A camera that delivers fewer frames simply gets fewer turns; the others share the rest.

The loop is agnostic of what a frame's work is: a `Feed` pairs a slot with a `process`
callable (a Pipeline's, or one that batches with other cameras), so the benchmark and
the multi-camera runner use the same scheduling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cafe_monitor.capture import CameraState, CaptureThread, Frame


class FrameSlot(Protocol):
    """What the loop needs of a camera's mailbox (capture.LatestFrameSlot)."""

    dropped: int

    def get(self, timeout: float | None = None) -> Frame | None: ...


@dataclass
class Feed:
    """One camera in the loop: where its frames arrive and what is done with each."""

    name: str
    slot: FrameSlot
    process: Callable[[Frame], object]
    #: True once the source will deliver no more frames (a file at its end, a failed camera)
    ended: Callable[[], bool] = lambda: False
    processed: int = 0
    busy_seconds: float = 0.0  # time spent in `process`
    latency_seconds: float = 0.0  # summed capture-to-result time (frames carry captured_at)
    started: float | None = None  # clock time of the loop's start

    @classmethod
    def of_capture(cls, name: str, capture: CaptureThread, process: Callable[[Frame], object]) -> Feed:
        """A feed on a CaptureThread: acknowledges each frame (files read without pacing wait
        for it) and ends when the thread has ended."""

        def process_and_ack(frame: Frame) -> object:
            try:
                return process(frame)
            finally:
                capture.frame_taken()

        def ended() -> bool:
            done = capture.slot.closed or capture.state in (CameraState.ENDED, CameraState.FAILED)
            return done and not capture.is_alive()

        return cls(name, capture.slot, process_and_ack, ended)

    @property
    def dropped(self) -> int:
        return self.slot.dropped


@dataclass(frozen=True)
class FeedRate:
    """How one camera was served: processed frames/s against what it delivered."""

    name: str
    processed: int
    dropped: int
    seconds: float
    mean_latency_ms: float

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def delivered_fps(self) -> float:
        return (self.processed + self.dropped) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "processed": self.processed, "dropped": self.dropped,
                "seconds": round(self.seconds, 2), "fps": round(self.fps, 1),
                "delivered_fps": round(self.delivered_fps, 1), "mean_latency_ms": round(self.mean_latency_ms, 1)}


@dataclass
class RoundRobin:
    """Serve feeds in turn, one newest frame each; never queue, never favour a camera.

    With `workers` > 1 (`run`), that many threads take turns from the same rotation, a
    camera never in two at once (its frames stay in order); this uses a second core when
    each camera has its own detector (MediaPipe and ONNX Runtime release the GIL)."""

    feeds: Sequence[Feed]
    #: with no frame waiting anywhere, wait this long on the next camera's slot
    idle_wait: float = 0.005
    clock: Callable[[], float] = time.monotonic
    _next: int = field(default=0, init=False)
    _stopped: float | None = field(default=None, init=False)
    _busy: set[int] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def step(self) -> Feed | None:
        """Process one frame of the first feed, from the one whose turn it is, that has a
        new frame; None when none had one within `idle_wait`."""
        taken = self._take()
        if taken is None:
            return None
        i, frame = taken
        feed = self.feeds[i]
        try:  # the feed is this worker's alone until released
            t0 = self.clock()
            feed.process(frame)
            feed.busy_seconds += self.clock() - t0
            feed.processed += 1
            if frame.captured_at:
                feed.latency_seconds += max(0.0, time.monotonic() - frame.captured_at)
        finally:
            with self._lock:
                self._busy.discard(i)
        return feed

    def _take(self) -> tuple[int, Frame] | None:
        with self._lock:
            n = len(self.feeds)
            free = [(self._next + k) % n for k in range(n) if (self._next + k) % n not in self._busy]
            for i in free:
                frame = self.feeds[i].slot.get(timeout=0)
                if frame is not None:
                    return self._claim(i, frame)
            if free:  # nothing new anywhere: wait a little for the camera whose turn it is
                frame = self.feeds[free[0]].slot.get(timeout=self.idle_wait)
                if frame is not None:
                    return self._claim(free[0], frame)
        if not free:
            time.sleep(self.idle_wait)  # every camera is being processed by another worker
        return None

    def _claim(self, i: int, frame: Frame) -> tuple[int, Frame]:
        self._busy.add(i)
        self._next = (i + 1) % len(self.feeds)
        return i, frame

    def run(self, *, should_stop: Callable[[], bool] = lambda: False, max_seconds: float | None = None,
            workers: int = 1) -> None:
        """Until stop is asked, max_seconds pass, or every feed has ended and been drained."""
        started = self.clock()
        self._stopped = None
        for feed in self.feeds:
            feed.started = started
        halt = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                while not halt.is_set() and not should_stop():
                    if max_seconds is not None and self.clock() - started >= max_seconds:
                        break
                    if self.step() is None and all(feed.ended() for feed in self.feeds):
                        break
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
            finally:
                halt.set()

        helpers = [threading.Thread(target=work, name=f"round-robin-{k + 1}", daemon=True)
                   for k in range(max(1, workers) - 1)]
        for t in helpers:
            t.start()
        try:
            work()
        finally:
            halt.set()
            for t in helpers:
                t.join()
            self._stopped = self.clock()
        if errors:
            raise errors[0]

    def rates(self) -> list[FeedRate]:
        """Each feed's processed and dropped frames from `run`'s start to its end (or now)."""
        now = self._stopped if self._stopped is not None else self.clock()
        return [FeedRate(f.name, f.processed, f.dropped, now - f.started if f.started is not None else 0.0,
                         f.latency_seconds * 1e3 / f.processed if f.processed else 0.0) for f in self.feeds]


def shortfall(rates: Sequence[FeedRate], tolerance: float = 0.05) -> str | None:
    """One line for a status bar when the machine is not keeping up with its cameras (each
    processed at what rate of what it delivers), or None when every camera is processed at
    (within `tolerance`) the rate it delivers."""
    behind = [r for r in rates if r.processed + r.dropped > 0 and r.dropped > tolerance * (r.processed + r.dropped)]
    if not behind:
        return None
    low, high = min(r.fps for r in rates), max(r.fps for r in rates)
    delivered = max(r.delivered_fps for r in rates)
    each = f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}–{high:.0f}"
    cameras = "each camera" if len(rates) > 1 else "the camera"
    return f"machine too slow: {cameras} processed at {each} of {delivered:.0f} frames/s"
