"""Rescue files: rows the database could not take, as JSON lines, and loading them back.

The writer appends to `unsaved-session-<id>-<time>.jsonl` in the data folder from the
first failed write on. Line one names the session (site, camera, start, model), then
one line per visit state or timeline second, last the session's end if it was reached:

    {"session": {"id": 7, "site": "main", "camera": "counter", "started_at": "...", ...}}
    {"visit": {"visit_no": 3, "first_seen": "...", "last_seen": "...", "frames": 80, "distribution": [...]}}
    {"timeline": {"at": "...", "frames": 25, "faces": 25, "distribution": [...]}}
    {"end": {"status": "ended", "ended_at": "...", "camera_gaps": []}}

`import_file` is idempotent: the session is found by site, camera and start time (or
created), a visit keeps its most advanced state, and a second already stored is skipped.
Files from before the header existed are read too when their session is in the database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from cafe_monitor.domain import CLASSES
from cafe_monitor.redact import redact, redact_url
from cafe_monitor.storage.database import StorageError, session_scope
from cafe_monitor.storage.schema import UTC, DeletionRow, SessionRow, TimelineRow, VisitRow, as_utc
from cafe_monitor.storage.timeline import TimelineBucket
from cafe_monitor.tracking import Visit

RESCUE_PREFIX = "unsaved-session-"
IMPORTED_SUFFIX = ".imported"


def probs(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """The p_<emotion> columns of a distribution."""
    return {f"p_{c}": float(v) for c, v in zip(CLASSES, values, strict=True)}


def session_about(row: SessionRow) -> dict[str, Any]:
    return {"site": row.site, "camera": row.camera, "started_at": as_utc(row.started_at).isoformat(),
            "source": row.source, "model_name": row.model_name, "model_sha256": row.model_sha256,
            "provider": row.provider, "settings": row.settings}


def rescue_header(session_id: int, about: dict[str, Any]) -> dict[str, Any]:
    return {"session": {"id": session_id, **redact(about)}}


def rescue_line(item: Visit | TimelineBucket, to_datetime: Callable[[float], dt.datetime]) -> dict[str, Any]:
    if isinstance(item, Visit):
        return {"visit": {"visit_no": item.id, "first_seen": to_datetime(item.first_seen).isoformat(),
                          "last_seen": to_datetime(item.last_seen).isoformat(), "frames": item.frames,
                          "distribution": [round(float(p), 6) for p in item.distribution]}}
    return {"timeline": {"at": item.at.isoformat(), "frames": item.frames, "faces": item.faces,
                         "distribution": list(item.distribution)}}


def pending_files(folder: Path) -> list[Path]:
    """Rescue files not imported yet (what the dashboard warns about)."""
    return sorted(folder.glob(f"{RESCUE_PREFIX}*.jsonl")) if folder.is_dir() else []


@dataclass(frozen=True)
class ImportResult:
    session_id: int
    created: bool  # the session was not in this database
    visits: int  # visits added or advanced
    seconds: int  # timeline seconds added
    deleted: bool = False  # the session was deleted here: nothing brought back
    site: str = ""  # the session's site (its retention applies to what came back)


def _time(value: str | float, origin: float = 0.0) -> dt.datetime:
    if isinstance(value, str):
        return as_utc(dt.datetime.fromisoformat(value))
    return dt.datetime.fromtimestamp(origin + value, UTC)


def _read(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any] | None]:
    header, body, end = None, [], None
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):  # the last line of a file cut by a crash
                break
            raise StorageError(f"{path}:{n}: not a rescue file line") from None
        if not isinstance(item, dict) or len(item) != 1 or next(iter(item)) not in {"session", "visit", "timeline",
                                                                                    "end"}:
            raise StorageError(f"{path}:{n}: not a rescue file line")
        if "session" in item:
            header = item["session"]
        elif "end" in item:
            end = item["end"]
        else:
            body.append(item)
    return header, body, end


def _deletions(s: Any, site: str) -> tuple[set[tuple[str | None, dt.datetime]], list[tuple[dt.datetime, dt.datetime]]]:
    """What `delete` removed of a site: sessions' (camera, start) and periods [start, end)."""
    rows = s.scalars(select(DeletionRow).where(or_(DeletionRow.site == site, DeletionRow.site.is_(None)))).all()
    return ({(r.camera, as_utc(r.session_started_at)) for r in rows if r.session_started_at is not None},
            [(as_utc(r.start), as_utc(r.end)) for r in rows if r.start is not None and r.end is not None])


def import_file(engine: Engine, path: Path) -> ImportResult:
    """Load one rescue file into the database; running it twice changes nothing, and what
    `delete` removed (the session, or a day of its site) is never brought back."""
    header, body, end = _read(path)
    with session_scope(engine) as s:
        created = False
        periods: list[tuple[dt.datetime, dt.datetime]] = []
        if header is not None and {"site", "camera", "started_at"} <= header.keys():
            started = _time(header["started_at"])
            gone, periods = _deletions(s, header["site"])
            if (header["camera"], started) in gone:
                return ImportResult(0, False, 0, 0, deleted=True)
            row = s.scalars(select(SessionRow).where(SessionRow.site == header["site"],
                                                     SessionRow.camera == header["camera"],
                                                     SessionRow.started_at == started)).first()
            if row is None:
                row = SessionRow(started_at=started, site=header["site"], camera=header["camera"],
                                 source=redact_url(str(header.get("source", ""))),
                                 model_name=header.get("model_name", ""),
                                 model_sha256=header.get("model_sha256", ""), provider=header.get("provider", ""),
                                 settings=redact(header.get("settings") or {}), status="interrupted", frames=0)
                s.add(row)
                s.flush()
                created = True
        else:  # no header (older files) or a bare one: the session must be in this database
            m = re.match(rf"{RESCUE_PREFIX}(\d+)-", path.name)
            sid = (header or {}).get("id") or (int(m[1]) if m else None)
            row = s.get(SessionRow, int(sid)) if sid is not None else None
            if row is None:
                raise StorageError(f"{path.name}: names no session of this database (site, camera, start)")
            periods = _deletions(s, row.site)[1]

        def deleted(t: dt.datetime) -> bool:
            return any(a <= t < b for a, b in periods)
        origin = as_utc(row.started_at).timestamp()
        latest: dict[int, dict[str, Any]] = {}
        seconds: dict[dt.datetime, dict[str, Any]] = {}
        for item in body:
            if "visit" in item:
                v = item["visit"]
                no = int(v.get("visit_no", v.get("id", 0)))
                if no not in latest or v["frames"] >= latest[no]["frames"]:
                    latest[no] = v
            else:
                t = item["timeline"]
                seconds[_time(t["at"])] = t
        stored = {r.visit_no: r for r in s.scalars(select(VisitRow).where(VisitRow.session_id == row.id))}
        visits = 0
        for no, v in latest.items():
            dist = v["distribution"]
            dist = [dist[c] for c in CLASSES] if isinstance(dist, dict) else dist
            frames = int(v["frames"])
            fields: dict[str, Any] = dict(first_seen=_time(v["first_seen"], origin),
                                          last_seen=_time(v["last_seen"], origin), frames=frames, **probs(dist))
            if deleted(fields["first_seen"]):
                continue
            old = stored.get(no)
            if old is None:
                s.add(VisitRow(session_id=row.id, visit_no=no, **fields))
            elif old.frames < frames:
                for k, val in fields.items():
                    setattr(old, k, val)
            else:
                continue
            visits += 1
        have = {as_utc(t) for t in s.scalars(select(TimelineRow.at).where(TimelineRow.session_id == row.id))}
        new = [(at, t) for at, t in seconds.items() if at not in have and not deleted(at)]
        for at, t in new:
            s.add(TimelineRow(session_id=row.id, at=at, frames=int(t["frames"]), faces=int(t["faces"]),
                              **probs(t["distribution"])))
        row.frames = (row.frames or 0) + sum(int(t["frames"]) for _, t in new)
        if end is not None and row.status != "ended":
            row.status, row.ended_at = end["status"], _time(end["ended_at"])
            row.camera_gaps = end.get("camera_gaps") or None
        elif row.status == "running" and created:
            row.status = "interrupted"
        s.commit()
        return ImportResult(row.id, created, visits, len(new), site=row.site)


def mark_imported(path: Path) -> Path:
    """Rename an imported file so the dashboard stops warning about it (kept, not deleted)."""
    done = path.with_name(path.name + IMPORTED_SUFFIX)
    path.rename(done)
    return done
