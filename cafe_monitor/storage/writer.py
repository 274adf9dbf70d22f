"""The one database writer thread of a session.

Exactly one thread writes (`SessionWriter`), committing in batches about once a second:
open visits as checkpoints, ended visits, per-second timeline buckets. Rows that cannot
be written (locked, failing or unreachable database) are kept and retried and, from the
first failure on, appended to a JSON-lines rescue file that `cafe-monitor import` loads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLTimeoutError
from sqlalchemy.orm import Session

from cafe_monitor.counter_identity import counter_id
from cafe_monitor.domain import counted
from cafe_monitor.owner_only import open_private, private_folder
from cafe_monitor.redact import redact, redact_url
from cafe_monitor.storage.database import session_scope
from cafe_monitor.storage.housekeeping import this_recorder
from cafe_monitor.storage.rescue import RESCUE_PREFIX, probs, rescue_header, rescue_line, session_about
from cafe_monitor.storage.schema import UTC, SessionRow, TimelineRow, VisitRow, as_utc
from cafe_monitor.storage.timeline import TimelineBucket
from cafe_monitor.tracking import Visit

log = logging.getLogger(__name__)

#: errors of the database being away (down, locked, unreachable): every row waits and is retried;
#: any other error is a row the database refuses for itself, or a bug, and no retry will help
OUTAGE = (OperationalError, InterfaceError, DisconnectionError, SQLTimeoutError)


def _why(exc: BaseException) -> str:
    """An error in one line, without credentials."""
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return redact_url(text.splitlines()[0])


def start_session(engine: Engine, *, source: str, site: str, camera: str, model_name: str,
                  model_sha256: str, provider: str, settings: dict[str, Any],
                  started_at: dt.datetime | None = None) -> int:
    """A new 'running' session row; its source and settings are stored without credentials."""
    with session_scope(engine) as s:
        row = SessionRow(started_at=started_at or dt.datetime.now(UTC), source=redact_url(source), site=site,
                         camera=camera, model_name=model_name, model_sha256=model_sha256, provider=provider,
                         settings=redact(settings), status="running", heartbeat_at=dt.datetime.now(UTC),
                         recorder=this_recorder(), counter_id=counter_id())
        s.add(row)
        s.commit()
        return row.id


@dataclass(frozen=True)
class _End:
    """The last item a writer receives: how the session ended."""

    status: str
    ended_at: dt.datetime
    camera_gaps: list[list[float]]


class SessionWriter(threading.Thread):
    """The one database writer of a session: it alone owns the rows not yet stored.

    Visits (open ones as checkpoints, then ended) and timeline buckets arrive through a
    queue; about once a second they are committed in one transaction, a visit being one
    row updated in place. While the database fails, every row not yet stored is also
    appended to a rescue file (JSON lines, `cafe-monitor import` reads it back), so
    even a crash during an outage loses at most the last second; once the database is
    back the rows are stored and the file removed. `close()` hands the session's end to
    the thread and waits: no second thread ever touches the pending rows.
    """

    HEARTBEAT_SECONDS = 5.0
    #: how long one commit may wait (on a lock, a busy server) before the rows go to the rescue
    #: file: short, because rows queued while the writer waits are only in memory
    WRITE_TIMEOUT_S = 1.0

    def __init__(self, engine: Engine, session_id: int, *, origin: float, flush_seconds: float = 1.0,
                 rescue_dir: Path | None = None, about: dict[str, Any] | None = None) -> None:
        super().__init__(name="db-writer", daemon=True)
        self.engine = engine
        self.session_id = session_id
        self.origin = origin  # add to frame timestamps to get epoch seconds
        self.flush_seconds = flush_seconds
        self.rescue_dir = rescue_dir
        self._queue: queue.SimpleQueue[Visit | TimelineBucket | _End] = queue.SimpleQueue()
        self._visits: dict[int, Visit] = {}  # latest snapshot per visit number
        #: visit numbers stored once: one missing later was deleted (`delete` while recording)
        self._stored_visits: set[int] = set()
        self._buckets: list[TimelineBucket] = []
        # pending rows not yet in the rescue file (a visit's latest state only: one line a second)
        self._unrescued_visits: dict[int, Visit] = {}
        self._unrescued_buckets: list[TimelineBucket] = []
        self._heartbeat_at = 0.0
        self._about = about if about is not None else self._session_about()  # read now, while it answers
        self.frames = 0
        self.last_error: str | None = None
        self.rescue_file: Path | None = None  # set once the rescue file is on disk
        self._rescue_path: Path | None = None  # chosen at the first attempt to write it
        self._aside_path: Path | None = None  # rows the database refused for themselves

    def to_datetime(self, timestamp: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.origin + timestamp, UTC)

    def add_visit(self, visit: Visit) -> None:
        """A visit that ended (or its latest state: a later one for the same number replaces it)."""
        self._queue.put(visit)

    def checkpoint(self, visits: Sequence[Visit]) -> None:
        """Visits still open, as they stand now: stored so that a crash keeps them."""
        for v in visits:
            self._queue.put(v)

    def add_bucket(self, bucket: TimelineBucket) -> None:
        self._queue.put(bucket)

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # a bug must not take the pending rows with it
            log.exception("database writer failed; keeping its rows in a rescue file")
            self._rescue()

    def _run(self) -> None:
        end: _End | None = None
        while end is None:
            try:
                end = self._round()
            except Exception:  # a bug: logged, the rows kept on disk, and the writer goes on
                log.exception("database writer: unexpected error; its rows are kept and it goes on")
                self._rescue()
        for attempt in range(3):
            try:
                if self._flush(end):
                    return
            except Exception:
                log.exception("database writer: unexpected error while ending the session")
            self._rescue()  # on disk while retrying: a slow failure must not outlast close()
            time.sleep(0.5 * (attempt + 1))
        self._rescue(end)

    def _round(self) -> _End | None:
        """Take what arrives for about `flush_seconds`, then store it; the end, once it came."""
        deadline = time.monotonic() + self.flush_seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if isinstance(item, _End):
                return item
            self._take(item)
        if self.last_error is not None:
            self._rescue()  # an outage: on disk before waiting on the database again
        if not self._flush():
            self._rescue()
        return None

    def close(self, status: str = "ended", ended_at: dt.datetime | None = None,
              camera_gaps: Sequence[tuple[float, float]] = (), timeout: float = 120.0) -> None:
        """Hand over the session's end and wait until it is stored (or rescued). Call once."""
        self._queue.put(_End(status, ended_at or dt.datetime.now(UTC),
                             [[round(a, 3), round(b, 3)] for a, b in camera_gaps]))
        if not self.is_alive() and self.ident is None:  # never started: do the work here
            self.run()
            return
        self.join(timeout)
        if self.is_alive():
            log.error("database writer still busy after %.0f s; unsaved rows are in %s", timeout,
                      self.rescue_file or "no rescue file yet")

    def _take(self, item: Visit | TimelineBucket) -> None:
        if isinstance(item, Visit):
            self._visits[item.id] = self._unrescued_visits[item.id] = item
        else:
            self._buckets.append(item)
            self._unrescued_buckets.append(item)

    def _flush(self, end: _End | None = None) -> bool:
        """Store the pending rows in one transaction; False (rows kept) if the database fails.
        A row the database refuses for itself, or one that is malformed, does not hold up the
        others: they are stored one by one and it is set aside (`_set_aside`)."""
        now = time.monotonic()
        if not self._visits and not self._buckets and end is None \
                and now - self._heartbeat_at < self.HEARTBEAT_SECONDS:
            return True
        try:
            self._commit(list(self._visits.values()), list(self._buckets), end)
        except OUTAGE as exc:
            return self._failed(exc)
        except Exception as exc:  # a row no retry will store (a constraint, bad data, a bug)
            log.warning("database refused a row (%s); storing the rows one by one", _why(exc))
            if not self._commit_one_by_one(end):
                return False
        self._visits.clear()
        self._buckets.clear()
        self._unrescued_visits.clear()
        self._unrescued_buckets.clear()
        self._heartbeat_at = now
        if self.last_error is not None:
            log.warning("database back: rows of the outage stored")
        self.last_error = None
        if self._rescue_path is not None:  # everything in it is stored now
            self._rescue_path.unlink(missing_ok=True)
            self.rescue_file = self._rescue_path = None
        return True

    def _commit(self, visits: Sequence[Visit], buckets: Sequence[TimelineBucket], end: _End | None) -> None:
        """One transaction: these rows, the session's frames and heartbeat (and its end)."""
        with session_scope(self.engine) as s:
            self._limit_wait(s)
            self._upsert_visits(s, visits)
            new = self._new_seconds(s, buckets)
            s.add_all(TimelineRow(session_id=self.session_id, at=b.at, frames=b.frames, faces=b.faces,
                                  **probs(b.distribution)) for b in new)
            frames = sum(b.frames for b in new)
            values: dict[str, Any] = {"frames": SessionRow.frames + frames, "heartbeat_at": dt.datetime.now(UTC)}
            if end is not None:
                values.update(status=end.status, ended_at=end.ended_at, camera_gaps=end.camera_gaps or None)
            s.execute(update(SessionRow).where(SessionRow.id == self.session_id).values(**values))
            s.commit()
        self.frames += frames
        self._stored_visits.update(v.id for v in visits)

    def _new_seconds(self, s: Session, buckets: Sequence[TimelineBucket]) -> list[TimelineBucket]:
        """The buckets whose second is not stored yet (a second is stored once: the first
        one wins; a repeat comes from a retry whose commit had in fact gone through)."""
        fresh: dict[dt.datetime, TimelineBucket] = {}
        for b in buckets:
            fresh.setdefault(as_utc(b.at), b)
        if not fresh:
            return []
        have = {as_utc(t) for t in s.scalars(select(TimelineRow.at).where(
            TimelineRow.session_id == self.session_id, TimelineRow.at >= min(fresh), TimelineRow.at <= max(fresh)))}
        if have & fresh.keys():
            log.debug("%s already stored; not stored again", counted(len(have & fresh.keys()), "second"))
        return [b for at, b in fresh.items() if at not in have]

    def _commit_one_by_one(self, end: _End | None) -> bool:
        """Each pending row in its own transaction; a row refused again is set aside. False
        if the database goes away meanwhile (the rows not stored yet are kept)."""
        for v in list(self._visits.values()):
            if not self._commit_or_set_aside(v, [v], []):
                return False
            del self._visits[v.id]
            self._unrescued_visits.pop(v.id, None)
        for b in list(self._buckets):
            if not self._commit_or_set_aside(b, [], [b]):
                return False
            self._buckets.remove(b)
        try:
            self._commit([], [], end)
        except OUTAGE as exc:
            return self._failed(exc)
        return True

    def _commit_or_set_aside(self, item: Visit | TimelineBucket, visits: Sequence[Visit],
                             buckets: Sequence[TimelineBucket]) -> bool:
        try:
            self._commit(visits, buckets, None)
        except OUTAGE as exc:
            return self._failed(exc)
        except Exception as exc:
            self._set_aside(item, exc)
        return True

    def _failed(self, exc: Exception) -> bool:
        self.last_error = _why(exc)
        log.warning("database write failed (%s); %s and %s kept for retry", self.last_error,
                    counted(len(self._visits), "visit"), counted(len(self._buckets), "second"))
        return False

    def _set_aside(self, item: Visit | TimelineBucket, exc: Exception) -> None:
        """A row the database will never take: into a rescue file of its own (kept when the
        outage file goes), with a log line naming it, so the rows after it are stored."""
        what = f"visit {item.id}" if isinstance(item, Visit) else f"second {item.at.isoformat()}"
        try:
            if self._aside_path is None:
                folder = private_folder(self.rescue_dir or Path.cwd())
                self._aside_path = folder / f"{RESCUE_PREFIX}{self.session_id}-{int(time.time())}-set-aside.jsonl"
            path = self._aside_path
            lines = [] if path.exists() and path.stat().st_size else [rescue_header(self.session_id, self._about)]
            lines.append(rescue_line(item, self.to_datetime))
            with open_private(path, "a") as fh:
                fh.write("".join(json.dumps(line) + "\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())
        except (OSError, TypeError, ValueError) as write_error:
            log.error("database refused %s (%s) and it cannot be set aside (%s): dropped", what, _why(exc),
                      write_error)
            return
        log.error("database refused %s (%s): set aside in %s, the other rows are stored", what, _why(exc), path)

    def _limit_wait(self, s: Session) -> None:
        ms = int(self.WRITE_TIMEOUT_S * 1000)
        if self.engine.dialect.name == "postgresql":
            s.execute(text(f"SET LOCAL statement_timeout = {ms}"))
            s.execute(text(f"SET LOCAL lock_timeout = {ms}"))
        elif self.engine.dialect.name == "sqlite":
            s.execute(text(f"PRAGMA busy_timeout = {ms}"))

    def _upsert_visits(self, s: Session, visits: Iterable[Visit]) -> None:
        by_no = {v.id: v for v in visits}
        if not by_no:
            return
        stored = {r.visit_no: r for r in s.scalars(select(VisitRow).where(
            VisitRow.session_id == self.session_id, VisitRow.visit_no.in_(list(by_no))))}
        for no, v in by_no.items():
            fields = dict(frames=v.frames, first_seen=self.to_datetime(v.first_seen),
                          last_seen=self.to_datetime(v.last_seen), **probs(v.distribution))
            row = stored.get(no)
            if row is None and no in self._stored_visits:
                continue  # deleted while the session records: never written again
            if row is None:
                s.add(VisitRow(session_id=self.session_id, visit_no=no, **fields))
            else:
                for k, val in fields.items():
                    setattr(row, k, val)

    def _rescue(self, end: _End | None = None) -> None:
        """Append the rows not yet in the rescue file (and the end, if given) to it."""
        if not self._unrescued_visits and not self._unrescued_buckets and end is None:
            return
        try:
            if self._rescue_path is None:
                folder = self.rescue_dir or Path.cwd()
                private_folder(folder)
                self._rescue_path = folder / f"{RESCUE_PREFIX}{self.session_id}-{int(time.time())}.jsonl"
            path = self._rescue_path
            head = [] if path.exists() and path.stat().st_size else [rescue_header(self.session_id, self._about)]
            items: list[Visit | TimelineBucket] = [*self._unrescued_visits.values(), *self._unrescued_buckets]
            lines = head + [rescue_line(item, self.to_datetime) for item in items]
            if end is not None:
                lines.append({"end": {"status": end.status, "ended_at": end.ended_at.isoformat(),
                                      "camera_gaps": end.camera_gaps}})
            with open_private(path, "a") as fh:
                fh.write("".join(json.dumps(line) + "\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            log.error("cannot write rescue file %s: %s", self._rescue_path, exc)
            return
        self.rescue_file = path  # named only once it is on disk: other threads read it
        self._unrescued_visits.clear()
        self._unrescued_buckets.clear()
        if end is not None:
            log.error("database unavailable: %s and %s saved to %s; load them later with "
                      "`cafe-monitor import %s`", counted(len(self._visits), "visit"),
                      counted(len(self._buckets), "second"), self.rescue_file,
                      self.rescue_file)

    def _session_about(self) -> dict[str, Any]:
        """What identifies this session in another database (for the rescue file's header)."""
        try:
            with session_scope(self.engine) as s:
                row = s.get(SessionRow, self.session_id)
                return session_about(row) if row is not None else {}
        except SQLAlchemyError:
            return {}
