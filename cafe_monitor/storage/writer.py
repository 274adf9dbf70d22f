"""The one database writer thread, and the per-second timeline aggregation it stores.

Exactly one thread writes (`SessionWriter`), committing in batches about once a second;
rows that cannot be written (locked or failing database) are kept and retried, and
dumped to a JSON-lines rescue file if the database never comes back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from cafe_monitor.classification import CLASSES
from cafe_monitor.storage.database import session_scope
from cafe_monitor.storage.schema import UTC, Base, SessionRow, TimelineRow, VisitRow
from cafe_monitor.tracking import Visit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimelineBucket:
    at: dt.datetime
    frames: int
    faces: int
    distribution: tuple[float, ...]  # mean over face observations (zeros when no faces)


def _probs(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    return {f"p_{c}": float(v) for c, v in zip(CLASSES, values, strict=True)}


def start_session(engine: Engine, *, source: str, site: str, camera: str, model_name: str,
                  model_sha256: str, provider: str, settings: dict[str, Any],
                  started_at: dt.datetime | None = None) -> int:
    with session_scope(engine) as s:
        row = SessionRow(started_at=started_at or dt.datetime.now(UTC), source=source, site=site, camera=camera,
                         model_name=model_name, model_sha256=model_sha256, provider=provider,
                         settings=settings, status="running")
        s.add(row)
        s.commit()
        return row.id


class SessionWriter(threading.Thread):
    """The one database writer: batches visits and timeline buckets, commits ~1/s."""

    def __init__(self, engine: Engine, session_id: int, *, origin: float, flush_seconds: float = 1.0,
                 rescue_dir: Path | None = None) -> None:
        super().__init__(name="db-writer", daemon=True)
        self.engine = engine
        self.session_id = session_id
        self.origin = origin  # add to frame timestamps to get epoch seconds
        self.flush_seconds = flush_seconds
        self.rescue_dir = rescue_dir
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: list[object] = []
        self._stopping = threading.Event()
        self.frames = 0
        self.last_error: str | None = None
        self.rescue_file: Path | None = None
        self._gaps: list[list[float]] = []

    def to_datetime(self, timestamp: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.origin + timestamp, UTC)

    def add_visit(self, visit: Visit) -> None:
        self._queue.put(visit)

    def add_bucket(self, bucket: TimelineBucket) -> None:
        self._queue.put(bucket)

    def run(self) -> None:
        while not self._stopping.is_set():
            deadline = time.monotonic() + self.flush_seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    self._pending.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
                if self._stopping.is_set():
                    break
            self._flush()

    def close(self, status: str = "ended", ended_at: dt.datetime | None = None,
              camera_gaps: Sequence[tuple[float, float]] = ()) -> None:
        """Drain, write the session's end, and stop. Safe to call once."""
        self._stopping.set()
        self.join(timeout=10)
        self._drain()
        self._gaps = [[round(a, 3), round(b, 3)] for a, b in camera_gaps]
        self._flush(final_status=status, ended_at=ended_at or dt.datetime.now(UTC))
        if self._pending:
            self._rescue()

    def _drain(self) -> None:
        while True:
            try:
                self._pending.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _flush(self, final_status: str | None = None, ended_at: dt.datetime | None = None) -> None:
        if not self._pending and final_status is None:
            return
        rows: list[Base] = []
        for item in self._pending:
            if isinstance(item, Visit):
                rows.append(VisitRow(session_id=self.session_id, visit_no=item.id, frames=item.frames,
                                     first_seen=self.to_datetime(item.first_seen),
                                     last_seen=self.to_datetime(item.last_seen), **_probs(item.distribution)))
            elif isinstance(item, TimelineBucket):
                rows.append(TimelineRow(session_id=self.session_id, at=item.at, frames=item.frames,
                                        faces=item.faces, **_probs(item.distribution)))
        frames = sum(r.frames for r in rows if isinstance(r, TimelineRow))
        for attempt in range(3 if final_status else 1):
            try:
                with session_scope(self.engine) as s:
                    s.add_all(rows)
                    row = s.get(SessionRow, self.session_id)
                    if row is not None:
                        row.frames += frames
                        if final_status is not None:
                            row.status, row.ended_at = final_status, ended_at
                            row.camera_gaps = self._gaps or None
                    s.commit()
                self._pending.clear()
                self.frames += frames
                self.last_error = None
                return
            except SQLAlchemyError as exc:
                self.last_error = str(getattr(exc, "orig", exc)).splitlines()[0]
                log.warning("database write failed (%s); %d rows kept for retry", self.last_error,
                            len(self._pending))
                time.sleep(0.5 * (attempt + 1) if final_status else 0)

    def _rescue(self) -> None:
        folder = self.rescue_dir or Path.cwd()
        path = folder / f"unsaved-session-{self.session_id}-{int(time.time())}.jsonl"
        with path.open("w") as fh:
            for item in self._pending:
                if isinstance(item, Visit):
                    fh.write(json.dumps({"visit": item.as_dict()}) + "\n")
                elif isinstance(item, TimelineBucket):
                    fh.write(json.dumps({"timeline": {"at": item.at.isoformat(), "frames": item.frames,
                                                      "faces": item.faces,
                                                      "distribution": list(item.distribution)}}) + "\n")
        self.rescue_file = path
        log.error("database unavailable: %d rows saved to %s", len(self._pending), path)


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
