"""Fixtures shared by the dashboard tests."""

from __future__ import annotations

import gc
from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor.config import Settings
from cafe_monitor.ui.app import MainWindow


@pytest.fixture
def looping_clip(tmp_path: Path) -> Path:
    """A 1-second clip with no faces: played in a loop, a session that runs until stopped;
    played once, a session that ends at once."""
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for i in range(25):
        writer.write(np.full((120, 160, 3), 40 + 4 * i, np.uint8))
    writer.release()
    return path


@pytest.fixture
def window(qtbot, db_url: str) -> MainWindow:  # type: ignore[no-untyped-def]
    """The dashboard on the defaults and a throw-away database, shown at a usual size."""
    w = MainWindow(Settings(), db_url=db_url)
    qtbot.addWidget(w)
    w.resize(1200, 760)
    w.show()
    yield w
    if w.worker is not None:
        w.stop()  # as the Stop button: closing then asks nothing
        w.worker.wait(10)


@pytest.fixture(autouse=True)
def _windows_gone_before_the_next_test(qtbot):  # type: ignore[no-untyped-def]
    """Every window of a test closed and deleted, in Qt's order, before the next test runs.

    pytest-qt closes the widgets it was given; their C++ objects were otherwise freed later,
    whenever Python's garbage collector reached a wrapper, and a paint queued for a plot whose
    axis was already freed crashed the next test (pyqtgraph AxisItem: a segfault seen once in CI).
    """
    yield
    from PyQt6.QtCore import QCoreApplication, QEvent
    from PyQt6.QtWidgets import QApplication

    for widget in QApplication.topLevelWidgets():
        widget.close()
    QApplication.processEvents()
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    QApplication.processEvents()
