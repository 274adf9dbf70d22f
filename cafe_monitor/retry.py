"""Retrying what may come later: a database that is not reachable yet, a camera not yet there.

One frozen `RetryPolicy` says how long to wait before each attempt (1, 2, 4 ... capped at
60 s by default), so a counter started at login before its Wi-Fi, or before its USB camera
is enumerated, records as soon as they appear instead of staying stopped all day. What a
retry cannot fix (a malformed setting, a corrupt model, a video file that does not exist)
is not retried: the caller raises it as it is.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Waits before each retry: `initial`, then times `factor`, at most `cap` seconds;
    `jitter` (0..1) spreads counters of a chain that lost one server at the same moment."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not (self.initial > 0 and self.factor >= 1 and self.cap >= self.initial and 0 <= self.jitter <= 1):
            raise ValueError(f"bad retry policy: {self}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        base = min(self.cap, self.initial * self.factor ** max(0, attempt - 1))
        return base * (1 - self.jitter * random.random()) if self.jitter else base


def seconds_text(seconds: float) -> str:
    """'retrying in 8 s' reads better than 'in 7.999 s' (and never 'in 0 s')."""
    return f"{max(1, round(seconds))} s"


def keep_trying(attempt: Callable[[], T], *, transient: Callable[[BaseException], str | None],
                wait: Callable[[float], bool], policy: RetryPolicy = RetryPolicy(),
                on_retry: Callable[[str | None, float], None] = lambda what, delay: None) -> T | None:
    """`attempt()` until it succeeds, waiting `policy`'s delays between tries while what it
    raises is `transient` (which says it in a few words, e.g. "database not reachable").

    `on_retry(what, delay)` is told each wait, so the status line can say "database not
    reachable, retrying in 8 s"; `on_retry(None, 0)` once it worked. `wait(seconds)` returns
    True when the caller is stopping: then None is returned. Anything not transient is
    raised as it is. The first failure is logged as a warning, later ones at debug level
    (the status line shows each)."""
    tries, what = 0, ""
    while True:
        try:
            result = attempt()
        except Exception as exc:
            reason = transient(exc)
            if reason is None:
                raise
            what = reason
            tries += 1
            delay = policy.delay(tries)
            note = f"{what}, retrying in {seconds_text(delay)}"
            (log.warning if tries == 1 else log.debug)("%s (%s)", note, exc)
            on_retry(what, delay)
            if wait(delay):
                return None
            continue
        if tries:
            log.warning("no longer %s: worked after %d retries", what, tries)
        on_retry(None, 0.0)
        return result


class RetryNote:
    """What is being waited for and when the next attempt is, read from any thread as
    "database not reachable, retrying in 8 s" (counting down)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._what: str | None = None
        self._at = 0.0

    def set(self, what: str | None, delay: float) -> None:
        self._what, self._at = what, self.clock() + delay

    def text(self) -> str | None:
        what, at = self._what, self._at
        return None if what is None else f"{what}, retrying in {seconds_text(at - self.clock())}"
