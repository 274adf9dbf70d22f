"""Closing the window while monitoring asks: keep monitoring in the tray, or stop (offscreen
Qt, the question answered by a patched QMessageBox)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QApplication, QMessageBox

from cafe_monitor import storage
from cafe_monitor.config import CameraSettings, Settings
from cafe_monitor.ui.app import MainWindow


class Answer:
    """Patches QMessageBox.exec to click the button with this text; keeps what was asked."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, button: str) -> None:
        self.asked: list[str] = []
        self.buttons: list[list[str]] = []

        def exec_(box: QMessageBox) -> int:
            self.asked.append(box.text())
            self.buttons.append([b.text().replace("&", "") for b in box.buttons()])
            next(b for b in box.buttons() if b.text().replace("&", "") == button).click()
            return 0

        monkeypatch.setattr(QMessageBox, "exec", exec_)


class FakeWorker:
    """A session that is running (for the question alone, without a camera)."""

    def __init__(self, window: MainWindow) -> None:
        self.running, self.source, self.stopped = True, "0", False
        window.monitoring = True  # as start() leaves it

    def stop(self) -> None:
        self.stopped, self.running = True, False

    def wait(self, timeout: float = 10.0) -> None:
        pass


@pytest.fixture
def window(qtbot, db_url: str) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow(Settings(camera=CameraSettings(loop=True)), db_url=db_url)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.quitting = True
    if w.worker is not None:
        w.worker.stop()
        w.worker.wait(10)
    QApplication.setQuitOnLastWindowClosed(True)


def tray_here(monkeypatch: pytest.MonkeyPatch, available: bool) -> None:
    monkeypatch.setattr(MainWindow, "tray_available", lambda self: available)


def test_keep_monitoring_in_the_tray_then_quit_from_its_menu(qtbot, window: MainWindow, looping_clip: Path,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    tray_here(monkeypatch, True)
    answer = Answer(monkeypatch, "Keep monitoring in tray")
    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", lambda: quits.append(True))
    window.start(str(looping_clip))
    qtbot.waitUntil(lambda: "Camera:" in window.status.text(), timeout=30000)
    window.close()
    assert "system tray" in answer.asked[0]
    assert sorted(answer.buttons[0]) == ["Cancel", "Keep monitoring in tray", "Stop monitoring and close"]
    assert not window.isVisible() and window.tray is not None and window.tray.visible
    assert not QApplication.quitOnLastWindowClosed()
    worker = window.worker
    assert worker is not None
    before = worker.take()
    qtbot.waitUntil(lambda: worker.take() is not before, timeout=20000)  # new frames: still monitoring, hidden
    assert worker.running
    assert [a.text() for a in window.tray.menu.actions() if a.text()] == ["Show", "Quit (stop monitoring)"]

    window.tray.show_action.trigger()
    assert window.isVisible() and not window.tray.visible
    window.hide_to_tray()
    window.tray.quit_action.trigger()  # no second question
    assert len(answer.asked) == 1 and quits == [True]
    assert not worker.running and not window.tray.visible
    assert storage.get_session(window.engine(), "last").status == "ended"


def test_stop_and_close(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    tray_here(monkeypatch, True)
    Answer(monkeypatch, "Stop monitoring and close")
    worker = window.worker = FakeWorker(window)  # type: ignore[assignment]
    window.close()
    assert worker.stopped and not window.isVisible() and window.tray is None


def test_cancel_keeps_the_window_and_monitoring(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    tray_here(monkeypatch, True)
    Answer(monkeypatch, "Cancel")
    worker = window.worker = FakeWorker(window)  # type: ignore[assignment]
    window.close()
    assert not worker.stopped and window.isVisible()


@pytest.mark.parametrize(("button", "stops"), [("Stop monitoring and close", True), ("Cancel", False)])
def test_without_a_tray_it_says_so_and_offers_stop_or_cancel(window: MainWindow, monkeypatch: pytest.MonkeyPatch,
                                                              button: str, stops: bool) -> None:
    tray_here(monkeypatch, False)
    answer = Answer(monkeypatch, button)
    worker = window.worker = FakeWorker(window)  # type: ignore[assignment]
    window.close()
    assert "no system tray" in answer.asked[0] and sorted(answer.buttons[0]) == ["Cancel", "Stop monitoring and close"]
    assert worker.stopped is stops and window.isVisible() is not stops


def test_closing_while_not_monitoring_asks_nothing(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Callable[..., int]] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: asked.append(box) or 0)
    window.close()
    assert asked == [] and not window.isVisible()


def test_monitoring_that_stops_while_in_the_tray_says_so_there(window: MainWindow,  # type: ignore[no-untyped-def]
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's banner is unseen while hidden: a camera failing says so on the tray icon."""
    tray_here(monkeypatch, True)
    Answer(monkeypatch, "Keep monitoring in tray")
    window.worker = FakeWorker(window)  # type: ignore[assignment]
    window.close()
    assert window.tray is not None and window.tray.visible
    assert window.tray.icon.toolTip() == "Café Monitor: monitoring"
    window.on_failed("camera 0 could not be opened")
    assert window.tray.visible  # still there, to show the window
    assert window.tray.icon.toolTip() == "Café Monitor: not monitoring – Camera 0 could not be opened."
    window.worker = None
