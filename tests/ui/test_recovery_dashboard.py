"""The dashboard at login: a database or camera not there yet is waited for, and the status
line says so, instead of a banner and a day not recorded (issue 23, point 1)."""

from __future__ import annotations

import threading

import pytest

import cafe_monitor.session as session_module
from cafe_monitor import storage
from cafe_monitor.ui.app import MainWindow
from tests.test_capture import FakeReader


def test_a_database_not_reachable_at_launch_is_waited_for(  # type: ignore[no-untyped-def]
        qtbot, window: MainWindow, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real, up = storage.open_database, threading.Event()

    def flaky(url: str, **kw: object) -> storage.Engine:
        if not up.is_set():
            raise storage.DatabaseUnavailable("cannot open database postgresql://cafe@db/cafe: connection refused")
        return real(url)

    monkeypatch.setattr(storage, "open_database", flaky)
    monkeypatch.setattr(session_module, "opener_for", lambda settings, source: lambda s: FakeReader())
    window.start("0")
    qtbot.waitUntil(lambda: "database not reachable, retrying in " in window.status.text(), timeout=60_000)
    assert window.worker is not None and window.worker.running and not window.live.banner_box.isVisible()
    up.set()  # the Wi-Fi is up
    qtbot.waitUntil(lambda: "Session 1" in window.status.text(), timeout=60_000)
    assert "retrying" not in window.status.text()
    stop(qtbot, window)


def test_a_camera_not_there_at_launch_is_waited_for(  # type: ignore[no-untyped-def]
        qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    plugged = threading.Event()
    monkeypatch.setattr(session_module, "opener_for",
                        lambda settings, source: lambda s: FakeReader(opened=plugged.is_set()))
    window.start("0")
    qtbot.waitUntil(lambda: "camera 0 not found, retrying in " in window.status.text(), timeout=60_000)
    assert window.worker is not None and window.worker.running
    plugged.set()  # enumerated late
    qtbot.waitUntil(lambda: "Camera: live" in window.status.text(), timeout=60_000)
    stop(qtbot, window)


def stop(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """As the Stop button, waited for: closing the window then asks nothing."""
    window.stop()
    qtbot.waitUntil(lambda: window.worker is not None and not window.worker.running, timeout=60_000)
