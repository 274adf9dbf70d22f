"""Weeks unattended: what is not there yet at start (database, camera) is waited for, with
backoff and a status line that says so; what retrying cannot fix is still one error line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cafe_monitor import storage
from cafe_monitor.capture import CaptureThread, WatchdogConfig
from cafe_monitor.config import Settings
from cafe_monitor.monitor import CameraPlan, Monitor
from cafe_monitor.retry import RetryPolicy, keep_trying
from cafe_monitor.session import LiveState, MonitorSession
from tests.test_capture import FakeReader

QUICK = RetryPolicy(initial=0.01, cap=0.05)


def test_retry_policy_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(initial=1, factor=2, cap=60)
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    with pytest.raises(ValueError):
        RetryPolicy(initial=0)


def test_keep_trying_retries_only_what_may_come_later() -> None:
    waits: list[float] = []
    notes: list[str | None] = []
    tries = iter([ConnectionError("down"), ConnectionError("down"), None])

    def attempt() -> str:
        exc = next(tries)
        if exc is not None:
            raise exc
        return "up"

    got = keep_trying(attempt, transient=lambda e: "server down" if isinstance(e, ConnectionError) else None,
                      wait=lambda s: waits.append(s) is not None, policy=RetryPolicy(initial=1, cap=60),
                      on_retry=lambda what, delay: notes.append(what))
    assert got == "up" and waits == [1, 2] and notes == ["server down", "server down", None]
    with pytest.raises(ValueError):  # not transient: raised at once, never waited on
        keep_trying(lambda: int("x"), transient=lambda e: None, wait=lambda s: False)


class Flaky:
    """`storage.open_database` that fails like an unreachable server until `up` is set."""

    def __init__(self) -> None:
        self.real = storage.open_database
        self.up = threading.Event()
        self.attempts = 0

    def __call__(self, url: str, **kw: object) -> storage.Engine:
        self.attempts += 1
        if not self.up.is_set():
            raise storage.DatabaseUnavailable("cannot open database postgresql://cafe@db/cafe: connection refused")
        return self.real(url)


def test_a_database_not_reachable_yet_is_waited_for_and_then_recorded(db_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Wi-Fi comes up after login: the session says "database not reachable, retrying in N s"
    meanwhile, and records once the database answers, instead of failing for the day."""
    flaky = Flaky()
    monkeypatch.setattr(storage, "open_database", flaky)
    capture = CaptureThread(0, opener=lambda s: FakeReader())
    session = MonitorSession(Settings(), source="0", db_url=db_url, capture=capture, retry=QUICK)
    problems: list[str | None] = []

    def on_state(state: LiveState) -> None:
        problems.append(state.problem)
        if flaky.attempts >= 4:
            flaky.up.set()
        if state.session_id is not None and state.frame is not None:  # a frame processed, not only read
            session.stop()

    threading.Timer(60, session.stop).start()  # a safety net only
    try:
        result = session.run(on_state=on_state)
    finally:
        session.pipeline.close()
    waiting = [p for p in problems if p is not None]
    assert waiting and all(p.startswith("database not reachable, retrying in ") for p in waiting)
    assert problems[-1] is None  # said no more once connected
    assert result.session_id is not None and result.stats.frames > 0
    row = storage.get_session(flaky.real(db_url), result.session_id)
    assert row is not None and row.status == "ended"


def test_stopping_while_the_database_is_waited_for_ends_at_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flaky = Flaky()
    monkeypatch.setattr(storage, "open_database", flaky)
    session = MonitorSession(Settings(), source="0", db_url=db_url,
                             capture=CaptureThread(0, opener=lambda s: FakeReader()),
                             retry=RetryPolicy(initial=3600, cap=3600))  # would wait an hour
    threading.Timer(0.2, session.stop).start()
    try:
        result = session.run()
    finally:
        session.pipeline.close()
    assert result.session_id is None and flaky.attempts == 1


def test_a_damaged_database_is_an_error_not_a_wait(tmp_path: Path) -> None:
    bad = tmp_path / "cafe.db"
    bad.write_bytes(b"this is not a database" * 100)
    session = MonitorSession(Settings(), source="0", db_url=f"sqlite:///{bad}",
                             capture=CaptureThread(0, opener=lambda s: FakeReader()), retry=QUICK)
    try:
        with pytest.raises(storage.StorageError, match="damaged or not a database"):
            session.run()
    finally:
        session.pipeline.close()


def test_one_camera_not_there_yet_does_not_stop_the_others(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cameras, one enumerated late: the other records meanwhile; the late one says
    "camera 1 not found, retrying in N s", then starts on its own."""
    import cafe_monitor.session as session_module

    late = threading.Event()

    def opener_for(settings: Settings, source: str | int):  # type: ignore[no-untyped-def]
        def open_(s: str | int) -> FakeReader:
            return FakeReader(opened=str(s) != "1" or late.is_set())
        return open_

    monkeypatch.setattr(session_module, "opener_for", opener_for)
    plans = [CameraPlan("till", "0"), CameraPlan("seats", "1")]
    monitor = Monitor(Settings(), plans, db_url=db_url)
    for s in monitor.sessions:  # reopened quickly, so the test does not wait on the default backoff
        s.capture.watchdog = WatchdogConfig(backoff_initial=0.02, backoff_max=0.05)
    seen: dict[str, list[LiveState]] = {"till": [], "seats": []}

    def on_state(name: str, state: LiveState) -> None:
        seen[name].append(state)
        till_frames = sum(st.frame is not None for st in seen["till"])
        if till_frames >= 3 and any(st.problem for st in seen["seats"]):
            late.set()  # the late camera appears once the other has recorded a while
        if late.is_set() and state.frame is not None and name == "seats":
            monitor.stop()

    threading.Timer(120, monitor.stop).start()  # a safety net only
    try:
        till, seats = monitor.run(on_state=on_state)
    finally:
        monitor.close()
    assert till.error is None and seats.error is None
    assert till.result is not None and seats.result is not None and seats.result.stats.frames > 0
    notes = [st.problem for st in seen["seats"] if st.problem]
    assert notes and all(n.startswith("camera 1 not found, retrying in ") for n in notes)
    assert seats.result.gaps  # the time it was missing is stored as the camera's gap
    assert not any(st.problem for st in seen["till"])


def test_a_missing_video_file_is_still_one_error(db_url: str, tmp_path: Path) -> None:
    """A file that does not exist will not appear by retrying: the run fails at once."""
    from cafe_monitor.capture import SourceError

    monitor = Monitor(Settings(), [CameraPlan("till", str(tmp_path / "nope.mp4"))], db_url=db_url)
    try:
        with pytest.raises(SourceError, match="nope.mp4"):
            monitor.run()
    finally:
        monitor.close()
    assert storage.list_sessions(storage.open_database(db_url)) == []
