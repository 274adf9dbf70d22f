"""Per-frame face probabilities -> one row per second: what live charts and reports plot.
Pure (no I/O), so it is tested without a camera or a database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cafe_monitor.domain import CLASSES


@dataclass(frozen=True)
class TimelineBucket:
    at: dt.datetime
    frames: int
    faces: int
    distribution: tuple[float, ...]  # mean over face observations (zeros when no faces)


class TimelineAggregator:
    """Per-frame face probabilities -> one TimelineBucket per second (pure, no I/O)."""

    def __init__(self, to_datetime: Any, bucket_seconds: int = 1) -> None:
        self.to_datetime = to_datetime
        self.bucket_seconds = bucket_seconds
        self._key: int | None = None
        self._frames = 0
        self._faces = 0
        self._sum = [0.0] * len(CLASSES)

    def add(self, timestamp: float, probabilities: Sequence[Sequence[float] | np.ndarray]) -> TimelineBucket | None:
        """Add one frame; returns the previous bucket when this frame starts a new one."""
        key = int(timestamp // self.bucket_seconds)
        done = self.flush() if self._key is not None and key != self._key else None
        self._key = key
        self._frames += 1
        for p in probabilities:
            self._faces += 1
            for i, v in enumerate(p):
                self._sum[i] += float(v)
        return done

    def flush(self) -> TimelineBucket | None:
        if self._key is None or self._frames == 0:
            return None
        n = max(self._faces, 1)
        bucket = TimelineBucket(self.to_datetime(self._key * self.bucket_seconds), self._frames, self._faces,
                                tuple(round(s / n, 5) if self._faces else 0.0 for s in self._sum))
        self._key, self._frames, self._faces, self._sum = None, 0, 0, [0.0] * len(CLASSES)
        return bucket
