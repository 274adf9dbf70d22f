"""The monotonic clock that timers and watchdogs read and wait on, passed in where tests need
to hold time still.

Code that decides by elapsed time (the capture watchdog, the status publisher, the
checkpoints of open visits) reads `clock()` and waits with `clock.wait(event, seconds)`
instead of `time.monotonic()` and `event.wait(seconds)`; the multi-camera rotation reads
its clock only (its tests' simulated cameras advance it). The program passes `MONOTONIC`;
a test passes a `ManualClock` it advances by hand, so what happens after 1.6 s of silence
is decided by the test, not by how busy the machine is.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds (`clock()`), and waiting for an event at most some of them."""

    def __call__(self) -> float: ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """True once `event` is set, False when `timeout` seconds of this clock passed first."""
        ...


class MonotonicClock:
    """The real clock: time.monotonic() and Event.wait()."""

    def __call__(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(0.0, timeout))


MONOTONIC: Clock = MonotonicClock()


class ManualClock:
    """A clock that stands still until `advance()`d (for tests and simulations).

    Threads waiting on it wake when their event is set or when the clock is advanced past
    their deadline. `settle()` returns once every thread whose wait ran out has come back
    to wait again (or ended), so a test can advance, settle, then look at the state."""

    #: real seconds between looks at a waited-for event (an Event cannot wake a Condition)
    POLL = 0.002

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._waiting: dict[threading.Thread, float] = {}  # waiting thread -> its deadline

    def __call__(self) -> float:
        with self._cond:
            return self._now

    def wait(self, event: threading.Event, timeout: float) -> bool:
        me = threading.current_thread()
        with self._cond:
            self._waiting[me] = self._now + max(0.0, timeout)
            self._cond.notify_all()
            try:
                while not event.is_set() and self._now < self._waiting[me]:
                    self._cond.wait(self.POLL)
                return event.is_set()
            finally:
                del self._waiting[me]
                self._cond.notify_all()

    def advance(self, seconds: float, settle: bool = True) -> None:
        """Move the clock on by `seconds`; with `settle`, then wait as `settle()` does."""
        with self._cond:
            self._now += seconds
            due = [t for t, deadline in self._waiting.items() if deadline <= self._now]
            self._cond.notify_all()
        if settle:
            self.settle(due)

    def settle(self, threads: list[threading.Thread], timeout: float = 30.0) -> None:
        """Until each of `threads` waits on this clock again, with a deadline still ahead (or
        has ended). Raises TimeoutError after `timeout` real seconds."""
        def settled() -> bool:
            return all(not t.is_alive() or self._waiting.get(t, self._now) > self._now for t in threads)
        with self._cond:
            if not self._cond.wait_for(settled, timeout):
                raise TimeoutError(f"threads still busy after {timeout} s: {[t.name for t in threads]}")

    def waiting(self, name: str) -> bool:
        """Whether a thread called `name` waits on this clock now."""
        with self._cond:
            return any(t.name == name for t in self._waiting)
