"""Loader: reads off the GUI thread, only the newest delivered, decided on the GUI thread."""

from __future__ import annotations

import threading
import time

from cafe_monitor.ui.worker import Loader


def _threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def _wait_threads_gone(name: str) -> None:
    """Wait (without running Qt's event loop) until the loader's threads have returned."""
    deadline = time.monotonic() + 20
    while _threads_named(name) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _threads_named(name)


def test_busy_until_the_result_is_delivered_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    loader = Loader("t-loader-busy")
    got: list[object] = []
    loader.loaded.connect(got.append)
    loader.load(lambda: 42)
    _wait_threads_gone("t-loader-busy")  # the read is over, its result not yet delivered
    assert loader.busy and got == []
    qtbot.waitUntil(lambda: not loader.busy, timeout=10000)
    assert got == [42]


def test_an_older_result_arriving_after_a_newer_one_is_dropped(qtbot) -> None:  # type: ignore[no-untyped-def]
    loader = Loader("t-loader-order")
    got: list[object] = []
    failed: list[str] = []
    loader.loaded.connect(got.append)
    loader.failed.connect(failed.append)
    gate = threading.Event()

    def old() -> str:
        gate.wait(20)
        raise OSError("old day's read failed")

    loader.load(old)
    loader.load(lambda: "new")
    qtbot.waitUntil(lambda: got == ["new"], timeout=10000)
    assert loader.busy  # the old read still runs
    gate.set()
    _wait_threads_gone("t-loader-order")
    qtbot.waitUntil(lambda: not loader.busy, timeout=10000)
    assert got == ["new"] and failed == []  # neither the old result nor its error is shown


def test_a_result_finished_before_a_newer_load_is_asked_for_is_stale(qtbot) -> None:  # type: ignore[no-untyped-def]
    """The race: the old read has returned (its thread is gone) but not been delivered when
    the user asks for another day; the old figures must not be shown then."""
    loader = Loader("t-loader-race")
    got: list[object] = []
    loader.loaded.connect(got.append)
    loader.load(lambda: "old")
    _wait_threads_gone("t-loader-race")
    gate = threading.Event()
    loader.load(lambda: gate.wait(20) and "new")
    qtbot.wait(50)  # the old result's delivery runs now, and is dropped
    assert got == [] and loader.busy
    gate.set()
    qtbot.waitUntil(lambda: not loader.busy, timeout=10000)
    assert got == ["new"]
