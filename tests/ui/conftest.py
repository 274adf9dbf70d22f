"""Fixtures shared by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture
def looping_clip(tmp_path: Path) -> Path:
    """A 1-second clip with no faces, played in a loop: a session that runs until stopped."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for i in range(25):
        writer.write(np.full((120, 160, 3), 40 + 4 * i, np.uint8))
    writer.release()
    return path
