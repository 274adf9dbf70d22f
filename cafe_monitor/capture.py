"""Capture thread: camera, video file or stream URL -> the latest frame, never a queue.

The consumer always gets the newest frame; frames it was too slow for are dropped and
counted (Frigate-style), so a slow machine lags by at most one frame instead of
drifting minutes behind. A watchdog reopens a camera that stops delivering frames
(unplugged) or keeps delivering the same frame (frozen driver), with backoff; a file
ends cleanly (or loops for demos).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from cafe_monitor.redact import redact_url

log = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]


class CameraState(enum.Enum):
    STARTING = "starting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    ENDED = "ended"  # a file reached its end
    FAILED = "failed"  # could not be opened at all


class SourceError(RuntimeError):
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


def is_live(source: str | int) -> bool:
    """Cameras and network streams are live (reconnect); files end."""
    if isinstance(source, int):
        return True
    return "://" in source


def open_cv(source: str | int) -> VideoReader:
    cap = cv2.VideoCapture(source)
    return cap  # type: ignore[return-value]


def camera_opener(width: int = 0, height: int = 0, fps: int = 0) -> Opener:
    """Like open_cv, but asks a camera (an index) for a capture size and rate ([cameras.<name>]
    width/height/fps; 0 keeps the device's default). Files and streams open as they are."""
    def open_with_mode(source: str | int) -> VideoReader:
        cap = cv2.VideoCapture(source)
        if isinstance(source, int) and cap.isOpened():
            for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                                (cv2.CAP_PROP_FPS, fps)):
                if value > 0:
                    cap.set(prop, value)
        return cap  # type: ignore[return-value]
    return open_with_mode


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
    stall_seconds: float = 3.0  # no new frame for this long -> reopen
    frozen_frames: int = 90  # this many identical frames in a row -> reopen
    backoff_initial: float = 0.5
    backoff_max: float = 10.0


class CaptureThread(threading.Thread):
    """Reads a source into a LatestFrameSlot; reopens live sources that fail or freeze."""

    def __init__(
        self,
        source: str | int,
        *,
        loop: bool = False,
        realtime: bool = False,
        opener: Opener = open_cv,
        watchdog: WatchdogConfig = WatchdogConfig(),
        blocking: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
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
        self.opener = opener
        self.watchdog = watchdog
        self.clock = clock
        self.slot = LatestFrameSlot()
        self.state = CameraState.STARTING
        self.error: str | None = None
        self.reconnects = 0
        self.frames_read = 0
        self.input_fps = 0.0
        self.gaps: list[tuple[float, float]] = []  # (lost_at, back_at), wall-clock seconds
        self._halt = threading.Event()
        self._reader: VideoReader | None = None
        self._last_frame_at = 0.0
        self._consumed = threading.Event()

    # -- public -------------------------------------------------------------------
    def open_or_raise(self) -> None:
        """Open the source once in the caller's thread, so a bad source fails fast."""
        self._reader = self._open()
        if self._reader is None:
            self.state = CameraState.FAILED
            kind = "camera" if isinstance(self.source, int) else "source"
            raise SourceError(redact_url(f"cannot open {kind} {self.shown!r}: {self.error}"))

    def stop(self) -> None:
        self._halt.set()
        self._consumed.set()

    def frame_taken(self) -> None:
        """Consumer acknowledges a frame (used only in blocking file mode)."""
        self._consumed.set()

    # -- thread -------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        finally:
            if self._reader is not None:
                self._reader.release()
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

    def _run(self) -> None:
        if self._reader is None:
            self._reader = self._open()
        if self._reader is None:
            self.state = CameraState.FAILED if not self.live else CameraState.RECONNECTING
            if not self.live:
                return
        backoff = self.watchdog.backoff_initial
        fps_window_start, fps_count = self.clock(), 0
        same_count, last_digest = 0, b""
        file_fps = (self._reader.get(cv2.CAP_PROP_FPS) if self._reader else 0.0) or 25.0
        started = self.clock()
        index = 0
        lost_at: float | None = None
        while not self._halt.is_set():
            if self._reader is None:  # reconnecting a live source
                self.state = CameraState.RECONNECTING
                if lost_at is None:
                    lost_at = time.time()
                if self._halt.wait(backoff):
                    break
                backoff = min(backoff * 2, self.watchdog.backoff_max)
                self._reader = self._open()
                if self._reader is not None:
                    self.reconnects += 1
                    log.warning("camera %r reopened", self.shown)
                    same_count, self._last_frame_at = 0, self.clock()
                continue
            ok, image = self._read_with_stall_check()
            if not ok or image is None:
                if not self.live:
                    if self.loop and index > 0:
                        self._reader.release()
                        self._reader = self._open()
                        if self._reader is not None:
                            continue
                    self.state = CameraState.ENDED
                    return
                log.warning("camera %r stopped delivering frames; reconnecting", self.shown)
                self._drop_reader()
                continue
            now = self.clock()
            if self.live:
                digest = _digest(image)
                same_count = same_count + 1 if digest == last_digest else 0
                last_digest = digest
                if same_count >= self.watchdog.frozen_frames:
                    log.warning("camera %r is frozen (same frame %d times); reconnecting",
                                self.shown, same_count)
                    self._drop_reader()
                    continue
            if lost_at is not None:
                self.gaps.append((lost_at, time.time()))
                lost_at = None
            backoff = self.watchdog.backoff_initial
            self.state = CameraState.LIVE
            self._last_frame_at = now
            ts = time.time() if self.live else index / file_fps
            if self.realtime and not self.live:
                delay = started + index / file_fps - self.clock()
                if delay > 0 and self._halt.wait(delay):
                    break
            self.frames_read += 1
            fps_count += 1
            if now - fps_window_start >= 1.0:
                self.input_fps = fps_count / (now - fps_window_start)
                fps_window_start, fps_count = now, 0
            if self.blocking:
                self._consumed.clear()
            self.slot.put(Frame(image, index, ts, time.monotonic()))
            index += 1
            if self.blocking:
                self._consumed.wait()

    def _read_with_stall_check(self) -> tuple[bool, Image | None]:
        """read() may block forever on a dead camera; for live sources run it with a
        deadline in a helper thread and treat a miss as a stall."""
        reader = self._reader
        assert reader is not None
        if not self.live:
            return reader.read()
        result: list[tuple[bool, Image | None]] = []
        t = threading.Thread(target=lambda: result.append(reader.read()), daemon=True)
        t.start()
        t.join(self.watchdog.stall_seconds)
        if not result:
            log.warning("camera %r read() blocked for %.1fs", self.shown, self.watchdog.stall_seconds)
            return False, None
        return result[0]

    def _drop_reader(self) -> None:
        if self._reader is not None:
            try:
                self._reader.release()
            except Exception:  # a dead device may fail to release; nothing to do
                log.debug("release failed", exc_info=True)
        self._reader = None


def _digest(image: Image) -> bytes:
    """Cheap fingerprint of a frame: a strided sample of its pixels."""
    return image[::16, ::16].tobytes()
