"""Native libraries' own output never reaches the user: one `error:` line without a camera."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_no_camera_prints_exactly_one_line(tmp_path: Path) -> None:
    """A camera not there is waited for (it may be enumerated late): one line says so, and
    OpenCV's own complaints about each attempt never reach the user."""
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    p = subprocess.run([sys.executable, "-m", "cafe_monitor", "run", "--headless", "--source", "7",
                        "--max-seconds", "3"], capture_output=True, text=True, cwd=REPO, timeout=120,
                       env={**env, "CAFE_MONITOR_HOME": str(tmp_path)})
    assert p.returncode == 0
    lines = p.stderr.splitlines()
    # the first start's note on where settings live, then the one line about the camera
    assert lines[0].startswith("settings: ") and "not written yet" in lines[0], p.stderr
    assert len(lines) == 2 and "camera 7 not found; retrying until it appears" in lines[1], p.stderr
    assert p.stdout.startswith("session 1: 0 frames")


def test_a_stream_camera_that_is_down_prints_one_line(tmp_path: Path) -> None:
    """An IP camera not answering: our one line, not FFmpeg's "[tcp @ ...] Connection refused"
    at every reconnect attempt."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCV_LOG_LEVEL", "OPENCV_FFMPEG_LOGLEVEL")}
    p = subprocess.run([sys.executable, "-m", "cafe_monitor", "run", "--headless", "--no-store",
                        "--source", "http://127.0.0.1:9/cam.mjpg", "--max-seconds", "3"],
                       capture_output=True, text=True, cwd=REPO, timeout=120,
                       env={**env, "CAFE_MONITOR_HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert "[tcp @" not in p.stderr and "Connection refused" not in p.stderr, p.stderr
    camera_lines = [line for line in p.stderr.splitlines() if not line.startswith("settings: ")]
    assert len(camera_lines) == 1 and "127.0.0.1:9" in camera_lines[0], p.stderr


def test_a_log_level_set_by_the_user_is_kept(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from cafe_monitor.native_output import silence_opencv

    monkeypatch.setenv("OPENCV_LOG_LEVEL", "INFO")
    before = cv2.utils.logging.getLogLevel()
    silence_opencv()
    assert os.environ["OPENCV_LOG_LEVEL"] == "INFO" and cv2.utils.logging.getLogLevel() == before
