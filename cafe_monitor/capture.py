"""Capture: camera, video file or stream URL -> the latest frame, never a queue.

The consumer always gets the newest frame; frames it was too slow for are dropped and
counted (Frigate-style), so a slow machine lags by at most one frame instead of
drifting minutes behind. A file is read in the capture thread and ends cleanly (or
loops for demos).

A live source is read by one reader thread per opened device, watched by the capture
thread: a camera that keeps silent is shown as stalled, then abandoned and reopened
with backoff, as is one that stops delivering (unplugged) or keeps delivering the same
frame (frozen driver: reopened once; the same picture after reopening is a still scene,
such as a dark café at night, and a camera that delivers it is live). A camera or stream
that is not there at start (enumerated after login, a stream not up yet) is waited for in
the same way: opened again with backoff until it appears. A device is only ever read and
released by its own reader, so a read() that hangs in a driver never meets a released
device, and its thread ends (and releases the device) as soon as that read() returns.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from cafe_monitor.clock import MONOTONIC, Clock
from cafe_monitor.domain import CAMERA_LOST_SECONDS
from cafe_monitor.errors import UserError
from cafe_monitor.redact import redact_url
from cafe_monitor.retry import RetryPolicy, seconds_text

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]

#: fps figures are counted over this many recent seconds (a lifetime average hides a
#: camera that has just slowed down or stopped)
RATE_WINDOW_SECONDS = 5.0


class CameraState(enum.Enum):
    STARTING = "starting"
    LIVE = "live"
    STALLED = "stalled"  # open, but no frame for `stall_after`: still waiting on it
    RECONNECTING = "reconnecting"  # given up on the device; opening it again
    ENDED = "ended"  # a file reached its end
    FAILED = "failed"  # could not be opened at all


class SourceError(UserError, RuntimeError):
    """A source that cannot be opened (no camera, missing or unreadable file)."""


@dataclass(frozen=True)
class Frame:
    image: Image
    index: int  # frames delivered by the source since start, 0-based
    timestamp: float  # seconds; wall clock for live sources, media time for files
    captured_at: float = 0.0  # time.monotonic() when read, for capture-to-result latency


class VideoReader(Protocol):
    """What we need of cv2.VideoCapture; tests pass fakes."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, Image | None]: ...
    def release(self) -> None: ...
    def get(self, prop: int) -> float: ...


Opener = Callable[[str | int], VideoReader]


def parse_source(source: str | int) -> str | int:
    """'0' -> camera 0; anything else is a path or URL for cv2.VideoCapture."""
    if isinstance(source, int):
        return source
    return int(source) if source.strip().isdigit() else source


def is_device(source: str | int) -> bool:
    """A camera: an index, or a device path such as /dev/video0 (opened as a camera, not
    read as a file: reconnected when lost, its frames stamped with the wall clock)."""
    return isinstance(source, int) or source.startswith("/dev/")


def is_live(source: str | int) -> bool:
    """Cameras and network streams are live (reconnect); files end."""
    return isinstance(source, int) or is_device(source) or "://" in source


class RateMeter:
    """Events per second over the last `window` seconds; safe to tick and read from
    different threads. Until a whole window has passed since (re)start, the rate is
    over the time so far (at least one second, so the first frame is not 'fps 100')."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._times: deque[float] = deque()
        self._started = clock()

    def restart(self) -> None:
        with self._lock:
            self._times.clear()
            self._started = self.clock()

    def tick(self) -> None:
        now = self.clock()
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self) -> float:
        now = self.clock()
        with self._lock:
            self._trim(now)
            span = max(1.0, min(self.window, now - self._started))
            return len(self._times) / span

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()


def camera_opener(width: int = 0, height: int = 0, fps: int = 0) -> Opener:
    """Opens a source with OpenCV, asking a camera (an index) for a capture size and rate
    ([cameras.<name>] width/height/fps; 0 keeps the device's default). Files and streams
    open as they are."""
    def open_with_mode(source: str | int) -> VideoReader:
        cap = cv2.VideoCapture(source)
        if is_device(source) and cap.isOpened():
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                                (cv2.CAP_PROP_FPS, fps)):
                if value > 0:
                    cap.set(prop, value)
        return cap  # type: ignore[return-value]
    return open_with_mode



#: a source as OpenCV opens it, at the device's default size and rate
open_cv: Opener = camera_opener()


class LatestFrameSlot:
    """A one-frame mailbox: put() replaces, get() waits for a newer frame than last time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = True
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if not self._taken:
                self.dropped += 1
            self._frame, self._taken = frame, False
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest unseen frame, or None on timeout / when closed and drained."""
        with self._cond:
            self._cond.wait_for(lambda: not self._taken or self._closed, timeout)
            if self._taken:
                return None
            self._taken = True
            return self._frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass(frozen=True)
class WatchdogConfig:
    stall_after: float = 1.0  # no new frame for this long -> shown as stalled
    stall_seconds: float = CAMERA_LOST_SECONDS  # no new frame for this long -> device abandoned and reopened
    frozen_frames: int = 90  # this many identical frames in a row -> reopen (once per picture)
    backoff_initial: float = 0.5  # waits between attempts to (re)open: doubling up to backoff_max
    backoff_max: float = 10.0
    #: devices whose read() is still hanging after being abandoned; with this many, no
    #: further device is opened until one returns (each holds a thread and a driver handle)
    max_abandoned: int = 2

    @property
    def reopen(self) -> RetryPolicy:
        return RetryPolicy(initial=self.backoff_initial, cap=max(self.backoff_max, self.backoff_initial))


class DeviceReader(threading.Thread):
    """The one thread that reads an opened live device, for as long as it is used.

    It alone calls read() and release() on its device, so a device is never released
    while a read may be inside it: the watchdog only `abandon()`s a silent reader, and the
    reader releases its device and ends when (if ever) its read() returns. `deliver`
    gets every frame and says whether to keep reading."""

    def __init__(self, device: VideoReader, deliver: Callable[[DeviceReader, Image], bool],
                 on_exit: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.device = device
        self._deliver = deliver
        self._on_exit = on_exit
        self.abandoned = threading.Event()
        #: set once it has let go of its device, before it wakes the watchdog: the thread itself
        #: may still be winding down then, so `is_alive()` would make the watchdog wait a tick
        self.done = threading.Event()
        # frozen-driver check, per device
        self.same_count = 0
        self.last_digest = b""

    def abandon(self) -> None:
        self.abandoned.set()

    def run(self) -> None:
        try:
            while not self.abandoned.is_set():
                try:
                    ok, image = self.device.read()
                except Exception:  # a driver failing mid-read is a lost camera, not a crash
                    log.warning("camera read failed", exc_info=True)
                    break
                if not ok or image is None or not self._deliver(self, image):
                    break
        finally:
            try:
                self.device.release()
            except Exception:  # a dead device may fail to release; nothing to do
                log.debug("release failed", exc_info=True)
            self.done.set()
            self._on_exit()


class CaptureThread(threading.Thread):
    """Reads a source into a LatestFrameSlot; reopens live sources that fail, stall or freeze."""

    def __init__(
        self,
        source: str | int,
        *,
        loop: bool = False,
        realtime: bool = False,
        opener: Opener = open_cv,
        watchdog: WatchdogConfig = WatchdogConfig(),
        blocking: bool | None = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.source = parse_source(source)
        #: the source as messages and logs show it: no stream password
        self.shown: str | int = self.source if isinstance(self.source, int) else redact_url(self.source)
        self.live = is_live(self.source)
        self.loop = loop
        self.realtime = realtime
        #: Files are read without dropping (every frame processed, fastest the consumer
        #: allows) unless paced in real time; live sources always drop stale frames.
        self.blocking = (not self.live and not realtime) if blocking is None else blocking
        if self.blocking and self.live:
            raise ValueError("a live source cannot wait for its consumer: frames are dropped instead")
        self.opener = opener
        self.watchdog = watchdog
        #: what the watchdog reads and waits on (stall, reconnect, backoff, pacing): tests hold it still
        self.clock = clock
        self.slot = LatestFrameSlot()
        self.state = CameraState.STARTING
        self.error: str | None = None
        self.reconnects = 0
        self.frames_read = 0
        self.gaps: list[tuple[float, float]] = []  # (lost_at, back_at), wall-clock seconds
        self._input = RateMeter(clock=clock)
        self._halt = threading.Event()
        self._wake = threading.Event()  # stop asked, or a reader ended: the watchdog looks now
        self._lock = threading.Lock()  # frame delivery vs the watchdog's decisions
        self._device: VideoReader | None = None  # opened by open_or_raise, not yet read
        self._device_opened_at = 0.0  # clock() when it was
        self._active: DeviceReader | None = None
        self._abandoned: list[DeviceReader] = []
        self._readers_started = 0
        self._last_frame_at: float | None = None  # clock() of the newest frame
        self._last_frame_wall = 0.0
        self._lost_at: float | None = None  # wall time the camera was lost, until it is back
        self._retry_at: float | None = None  # clock() of the next attempt to open, while one failed
        self._still_scene = b""  # a picture that stayed the same after reopening: a still scene
        self._index = 0
        self._consumed = threading.Event()

    # -- public -------------------------------------------------------------------
    def open_or_raise(self) -> None:
        """Open the source once in the caller's thread, so a bad file fails fast. A camera or
        stream not there yet is no error: the started capture keeps trying (`retry_note`)."""
        self._device = self._open()
        self._device_opened_at = self.clock()
        if self._device is None and not self.live:
            self.state = CameraState.FAILED
            raise SourceError(redact_url(f"cannot open source {self.shown!r}: {self.error}"))
        if self._device is None:
            log.warning("%s; retrying until it appears (at most %g s apart)", self._missing(),
                        self.watchdog.reopen.cap)

    def retry_note(self) -> str | None:
        """While a camera or stream cannot be opened: "camera 0 not found, retrying in 4 s"."""
        retry_at = self._retry_at
        if retry_at is None or self._active is not None or self.state is not CameraState.RECONNECTING:
            return None
        return f"{self._missing()}, retrying in {seconds_text(retry_at - self.clock())}"

    def _missing(self) -> str:
        kind = "camera" if is_device(self.source) else "stream"
        return redact_url(f"{kind} {self.shown} not found")

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        self._consumed.set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading and let go of the device: a started capture's thread releases it on
        its way out (waited for up to `timeout`); one opened (`open_or_raise`) but never
        started is released here."""
        self.stop()
        if self.ident is not None:
            self.join(timeout)
            return
        device, self._device = self._device, None
        if device is not None:
            device.release()
        self.slot.close()

    @property
    def finished(self) -> bool:
        """True once the source will deliver no more frames (a file at its end, a failed
        camera, a stopped capture) and its thread has gone."""
        ended = self.slot.closed or self.state in (CameraState.ENDED, CameraState.FAILED)
        return ended and not self.is_alive()

    def frame_taken(self) -> None:
        """Consumer acknowledges a frame (used only in blocking file mode)."""
        self._consumed.set()

    @property
    def input_fps(self) -> float:
        """Frames read per second over the last few seconds (0 soon after a camera stops)."""
        return self._input.rate()

    def seconds_since_frame(self) -> float | None:
        """How long the source has been silent; None before its first frame."""
        last = self._last_frame_at
        return None if last is None else max(0.0, self.clock() - last)

    @property
    def abandoned_readers(self) -> int:
        """Abandoned devices whose read() has not returned yet."""
        return sum(not r.done.is_set() for r in self._abandoned)

    # -- thread -------------------------------------------------------------------
    def run(self) -> None:
        try:
            if self.live:
                self._watch_live()
            else:
                self._read_file()
        finally:
            self.slot.close()

    def _open(self) -> VideoReader | None:
        try:
            reader = self.opener(self.source)
        except Exception as exc:  # cv2 raises on some malformed URLs
            self.error = str(exc)
            return None
        if not reader.isOpened():
            reader.release()
            self.error = "not found or not readable" if not self.live else "no device or stream"
            return None
        return reader

    def _read_file(self) -> None:
        device, self._device = self._device or self._open(), None
        if device is None:
            self.state = CameraState.FAILED
            return
        try:
            file_fps = device.get(cv2.CAP_PROP_FPS) or 25.0
            started = self.clock()
            index = 0
            while not self._halt.is_set():
                ok, image = device.read()
                if not ok or image is None:
                    if self.loop and index > 0:
                        device.release()
                        device = self._open()
                        if device is not None:
                            continue
                    self.state = CameraState.ENDED
                    return
                self.state = CameraState.LIVE
                if self.realtime:
                    delay = started + index / file_fps - self.clock()
                    if delay > 0 and self.clock.wait(self._halt, delay):
                        break
                self.frames_read += 1
                self._input.tick()
                self._last_frame_at = self.clock()
                if self.blocking:
                    self._consumed.clear()
                self.slot.put(Frame(image, index, index / file_fps, time.monotonic()))
                index += 1
                if self.blocking:
                    self._consumed.wait()
        finally:
            if device is not None:
                device.release()

    def _watch_live(self) -> None:
        """The watchdog: starts a reader per device and decides when a device is lost."""
        wd = self.watchdog
        stall_after = min(wd.stall_after, wd.stall_seconds)
        tick = min(0.1, stall_after / 4)
        policy, attempt = wd.reopen, 0
        waiting_since = self.clock()  # start of the current silence, before any frame
        retry = False  # the first open is not a retry: no backoff before it
        too_many_logged = False
        try:
            while not self._halt.is_set():
                if self._active is None:
                    if retry:
                        self.state = CameraState.RECONNECTING
                        attempt += 1
                        delay = policy.delay(attempt)
                        self._retry_at = self.clock() + delay
                        if self.clock.wait(self._halt, delay):
                            break
                    retry = True
                    if self.abandoned_readers >= wd.max_abandoned:
                        if not too_many_logged:
                            log.warning("camera %r: %d abandoned reads still hang; not opening another device",
                                        self.shown, self.abandoned_readers)
                            too_many_logged = True
                        continue
                    too_many_logged = False
                    self._abandoned = [r for r in self._abandoned if not r.done.is_set()]
                    self._drop_stale_device()
                    device, self._device = self._device or self._open(), None
                    if device is None:
                        self._lost()
                        continue
                    self._retry_at = None
                    if self._lost_at is not None:
                        self.reconnects += 1
                        log.warning("camera %r reopened", self.shown)
                    self._start_reader(device)
                    waiting_since = self.clock()
                    continue
                self.clock.wait(self._wake, tick)
                self._wake.clear()
                with self._lock:
                    reader = self._active
                    if reader is None or self._halt.is_set():
                        continue
                    last = self._last_frame_at
                    silent = self.clock() - (waiting_since if last is None or last < waiting_since else last)
                    if reader.done.is_set():  # read failed or frozen frames: the reader has let go
                        log.warning("camera %r stopped delivering frames; reconnecting", self.shown)
                        self._lost()
                    elif silent >= wd.stall_seconds:
                        log.warning("camera %r: no frame for %.1f s; abandoning the device and reopening",
                                    self.shown, silent)
                        reader.abandon()
                        self._abandoned.append(reader)
                        self._lost()
                    elif silent >= stall_after and self.state in (CameraState.LIVE, CameraState.STARTING):
                        self.state = CameraState.STALLED
                    elif self.state is CameraState.LIVE:
                        attempt = 0
        finally:
            with self._lock:
                last_reader, self._active = self._active, None
            if last_reader is not None:
                last_reader.abandon()
                last_reader.join(timeout=1.0)  # a hanging read() releases its device when it returns
            if self._device is not None:
                self._device.release()
                self._device = None

    def _drop_stale_device(self) -> None:
        """A stream opened at start but first read much later (the monitor waited a minute for
        its database) has buffered frames from then, which would be taken for live ones (a
        visit of a customer long gone): opened again instead, as a camera silent that long is."""
        device = self._device
        if device is not None and self.clock() - self._device_opened_at > self.watchdog.stall_seconds:
            log.info("camera %r opened %.0f s ago and not read since; opening it again", self.shown,
                     self.clock() - self._device_opened_at)
            self._device = None
            device.release()

    def _start_reader(self, device: VideoReader) -> None:
        self._readers_started += 1
        reader = DeviceReader(device, self._deliver, self._wake.set, name=f"capture-read-{self._readers_started}")
        with self._lock:
            self._active = reader
        reader.start()

    def _lost(self) -> None:
        """The current device (if any) is given up; from now on the camera is reconnecting."""
        self._active = None
        if self._lost_at is None:
            self._lost_at = self._last_frame_wall or time.time()
        self.state = CameraState.RECONNECTING

    def _deliver(self, reader: DeviceReader, image: Image) -> bool:
        """A live frame from `reader` (its own thread); False tells the reader to stop."""
        digest = _digest(image)
        reader.same_count = reader.same_count + 1 if digest == reader.last_digest else 0
        reader.last_digest = digest
        with self._lock:
            if reader.abandoned.is_set() or reader is not self._active:
                return False  # a late frame from a device already given up
            if reader.same_count == self.watchdog.frozen_frames:
                if digest != self._still_scene:
                    log.warning("camera %r is frozen (same frame %d times); reconnecting", self.shown,
                                reader.same_count)
                    self._still_scene = digest  # the same picture once reopened is the scene itself
                    return False
                log.info("camera %r shows a still scene (the same picture after reopening); it is live",
                         self.shown)
            now, wall = self.clock(), time.time()
            if self._lost_at is not None:
                self.gaps.append((self._lost_at, wall))
                self._lost_at = None
            self.state = CameraState.LIVE
            self._last_frame_at, self._last_frame_wall = now, wall
            self.frames_read += 1
            self._input.tick()
            index = self._index
            self._index += 1
        self.slot.put(Frame(image, index, wall, time.monotonic()))
        return True


def _digest(image: Image) -> bytes:
    """Cheap fingerprint of a frame: a strided sample of its pixels."""
    return image[::16, ::16].tobytes()
