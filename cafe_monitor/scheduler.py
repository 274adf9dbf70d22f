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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from cafe_monitor.capture import CaptureThread, Frame

#: capture-to-result times kept per feed for the median (about a minute of a 30 fps camera)
LATENCY_SAMPLES = 2048


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
    #: the last LATENCY_SAMPLES capture-to-result times (s), for a median
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES), repr=False)
    started: float | None = None  # clock time of the loop's start
    #: called once, by the worker that finds the feed ended and drained (outside the loop's
    #: lock), so a camera whose source ends is closed at once while the others go on
    on_end: Callable[[], object] | None = None
    #: (clock, processed, dropped, latency_seconds) a few times a second, for recent rates
    history: deque[tuple[float, int, int, float]] = field(default_factory=deque, repr=False)

    @classmethod
    def of_capture(cls, name: str, capture: CaptureThread, process: Callable[[Frame], object]) -> Feed:
        """A feed on a CaptureThread: acknowledges each frame (files read without pacing wait
        for it) and ends when the thread has ended."""

        def process_and_ack(frame: Frame) -> object:
            try:
                return process(frame)
            finally:
                capture.frame_taken()

        return cls(name, capture.slot, process_and_ack, lambda: capture.finished)

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
    median_latency_ms: float = 0.0  # over the feed's last LATENCY_SAMPLES frames (`rates()` without a window)

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def delivered_fps(self) -> float:
        return (self.processed + self.dropped) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "processed": self.processed, "dropped": self.dropped,
                "seconds": round(self.seconds, 2), "fps": round(self.fps, 1),
                "delivered_fps": round(self.delivered_fps, 1), "mean_latency_ms": round(self.mean_latency_ms, 1),
                "median_latency_ms": round(self.median_latency_ms, 1)}


@dataclass
class RoundRobin:
    """Serve feeds in turn, one newest frame each; never queue, never favour a camera.

    With `workers` > 1 (`run`), that many threads take turns from the same rotation, a
    camera never in two at once (its frames stay in order); this uses a second core when
    each camera has its own detector (MediaPipe and ONNX Runtime release the GIL).

    A feed with an `on_end` hook leaves the rotation when it has ended and been drained:
    the hook is called once and the feed gets no more turns."""

    feeds: Sequence[Feed]
    #: with no frame waiting anywhere, wait this long on the next camera's slot
    idle_wait: float = 0.005
    #: run's length, rates and latency go by this clock; frames' `captured_at` must be read on it
    clock: Callable[[], float] = time.monotonic
    #: recent rates (`rates(window=...)`) can look back at most this far
    history_seconds: float = 30.0
    _next: int = field(default=0, init=False)
    _stopped: float | None = field(default=None, init=False)
    _busy: set[int] = field(default_factory=set, init=False)
    _retired: set[int] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def step(self) -> Feed | None:
        """Process one frame of the first feed, from the one whose turn it is, that has a
        new frame (or end a feed that has ended, see `on_end`); None when none had one
        within `idle_wait`."""
        taken = self._take()
        if taken is None:
            return None
        i, frame = taken
        feed = self.feeds[i]
        try:  # the feed is this worker's alone until released
            if frame is None:  # ended and drained: it leaves the rotation
                assert feed.on_end is not None
                feed.on_end()
                return feed
            t0 = self.clock()
            feed.process(frame)
            feed.busy_seconds += self.clock() - t0
            feed.processed += 1
            if frame.captured_at:
                latency = max(0.0, self.clock() - frame.captured_at)
                feed.latency_seconds += latency
                feed.latencies.append(latency)
        finally:
            with self._lock:
                self._busy.discard(i)
                if frame is not None:
                    self._sample(feed)
        return feed

    def _sample(self, feed: Feed) -> None:
        """Note the feed's counters (samples 0.1 s apart at least; the newest is always the
        counters now, so a feed's last frames before it ends or falls silent are never left
        unsampled and counted in a later window), dropping what is older than
        `history_seconds` but the newest such sample (the start of the longest window)."""
        now = self.clock()
        h = feed.history
        sample = (now, feed.processed, feed.dropped, feed.latency_seconds)
        if len(h) >= 2 and now - h[-2][0] < 0.1:
            h[-1] = sample
        else:
            h.append(sample)
        while len(h) > 1 and h[1][0] <= now - self.history_seconds:
            h.popleft()

    def _take(self) -> tuple[int, Frame | None] | None:
        """A free feed's new frame, or (i, None) for a feed that has ended and been drained."""
        with self._lock:
            n = len(self.feeds)
            free = [(self._next + k) % n for k in range(n)
                    if (self._next + k) % n not in self._busy and (self._next + k) % n not in self._retired]
            for i in free:
                feed = self.feeds[i]
                done = feed.on_end is not None and feed.ended()  # asked first: a last frame is not lost
                frame = feed.slot.get(timeout=0)
                if frame is not None:
                    return self._claim(i, frame)
                if done:
                    self._retired.add(i)
                    self._busy.add(i)
                    return i, None
            if not free:
                waiting = None
            else:  # nothing new anywhere: wait a little for the camera whose turn it is
                waiting = free[0]
                self._busy.add(waiting)  # this worker's while it waits, without holding the lock
        if waiting is None:
            time.sleep(self.idle_wait)  # every camera is being processed by another worker
            return None
        frame = self.feeds[waiting].slot.get(timeout=self.idle_wait)  # the other workers take and
        with self._lock:  # hand back their cameras meanwhile (waiting under the lock held them up)
            if frame is not None:
                return self._claim(waiting, frame)
            self._busy.discard(waiting)
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
            feed.history.clear()
            feed.history.append((started, feed.processed, feed.dropped, feed.latency_seconds))
        halt = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                while not halt.is_set() and not should_stop():
                    if max_seconds is not None and self.clock() - started >= max_seconds:
                        break
                    if self.step() is None and self._all_ended():
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

    def _all_ended(self) -> bool:
        """Every feed has ended, and those with an `on_end` hook have been ended by it."""
        return all(i in self._retired if f.on_end is not None else f.ended() for i, f in enumerate(self.feeds))

    def rates(self, window: float | None = None) -> list[FeedRate]:
        """Each feed's processed and dropped frames from `run`'s start to its end (or now);
        with `window`, over about the last `window` seconds only (what a status line shows:
        a slow start or a busy minute long gone does not count)."""
        now = self._stopped if self._stopped is not None else self.clock()
        if window is None:
            return [FeedRate(f.name, f.processed, f.dropped, now - f.started if f.started is not None else 0.0,
                             f.latency_seconds * 1e3 / f.processed if f.processed else 0.0,
                             float(np.median(list(f.latencies))) * 1e3 if f.latencies else 0.0) for f in self.feeds]
        rates = []
        with self._lock:
            for f in self.feeds:
                base = next((s for s in reversed(f.history) if s[0] <= now - window), None)
                t0, processed0, dropped0, latency0 = base or (f.history[0] if f.history else (now, 0, f.dropped, 0.0))
                processed = f.processed - processed0
                latency = (f.latency_seconds - latency0) * 1e3 / processed if processed else 0.0
                rates.append(FeedRate(f.name, processed, f.dropped - dropped0, now - t0, latency))
        return rates


def shortfall(rates: Sequence[FeedRate], tolerance: float = 0.05) -> str | None:
    """One line for a status bar when the machine is not keeping up with its cameras (each
    processed at what rate of what it delivers), or None when every camera is processed at
    (within `tolerance`) the rate it delivers."""
    delivering = [r for r in rates if r.processed + r.dropped > 0]  # an ended camera is not behind
    behind = [r for r in delivering if r.dropped > tolerance * (r.processed + r.dropped)]
    if not behind:
        return None
    low, high = min(r.fps for r in delivering), max(r.fps for r in delivering)
    delivered = max(r.delivered_fps for r in delivering)
    each = f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}–{high:.0f}"
    cameras = "each camera" if len(delivering) > 1 else "the camera"
    return f"machine too slow: {cameras} processed at {each} of {delivered:.0f} frames/s"
