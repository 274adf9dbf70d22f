"""Silence what native libraries print straight to the process's stdout/stderr.

MediaPipe's LiteRT and onnxruntime-gpu's provider loader write banners and "EP Error"
blocks to file descriptors 1/2 from C++, bypassing Python's logging. That would corrupt
`--json` output and alarm staff, so model loading runs inside this context manager and
we report the outcome (provider in use) ourselves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout, suppress


@contextmanager
def quiet_native_output() -> Iterator[None]:
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    saved: list[tuple[int, int]] = []
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(devnull, fd)
            except OSError:
                pass
        # onnxruntime's Python layer also print()s its "EP Error" block
        with open(os.devnull, "w") as sink, redirect_stdout(sink), redirect_stderr(sink):
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def silence_opencv() -> None:
    """Keep OpenCV's own log lines from the user.

    Opening a camera that is not there makes each video backend OpenCV tries print its
    WARN/ERROR lines (a dozen for one missing camera) before we can say "cannot open camera 7"
    in one line; our messages say what went wrong. Someone debugging a camera can still set
    OPENCV_LOG_LEVEL themselves: a level set in the environment is left alone. FFmpeg's
    own lines for a stream camera that is down ("[tcp @ 0x...] Connection refused", every
    reconnect attempt) likewise, unless OPENCV_FFMPEG_LOGLEVEL is set (read when the first
    stream opens)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if os.environ.get("OPENCV_LOG_LEVEL"):
        return
    os.environ["OPENCV_LOG_LEVEL"] = "SILENT"  # also for processes we start
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
