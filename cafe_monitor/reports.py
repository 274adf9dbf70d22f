"""Session and day reports: a PDF for people, CSV/JSON for spreadsheets.

Charts and the PDF are drawn with matplotlib (already a dependency of mediapipe, and
its PdfPages backend writes multi-page vector PDFs with no extra library or system
fonts). Reports hold aggregates and per-visit numbers only: no images of anyone.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from cafe_monitor.domain import CLASSES, COLOURS
from cafe_monitor.errors import UserError
from cafe_monitor.localtime import CafeClock
from cafe_monitor.owner_only import new_private_file, private_folder
from cafe_monitor.scoring import Score, ScoreConfig, score_visits, to_score, visit_valence
from cafe_monitor.site_clock import clock_for
from cafe_monitor.storage import Engine
from cafe_monitor.storage.queries import (
    EVERY_COUNTER,
    Counter,
    SessionInfo,
    TimelinePoint,
    VisitInfo,
    find_session,
    sessions_started,
    timeline_minutes,
    timeline_of,
    visits_of,
    visits_started,
)

FORMATS = ("pdf", "csv", "json")


class ReportError(UserError, RuntimeError):
    pass


@dataclass
class VisitRecord:
    session_id: int
    visit_no: int
    first_seen: dt.datetime  # in the café's zone
    last_seen: dt.datetime
    frames: int
    distribution: list[float]
    valence: float


@dataclass
class TimelineRecord:
    at: dt.datetime  # in the café's zone
    frames: int
    faces: int
    distribution: list[float]


@dataclass
class ReportData:
    """A report's numbers, every time already in the café's zone (`clock`)."""

    title: str
    subtitle: str
    start: dt.datetime
    end: dt.datetime
    score: Score
    visits: list[VisitRecord]
    timeline: list[TimelineRecord]
    clock: CafeClock
    sessions: list[dict[str, object]] = field(default_factory=list)
    slug: str = "report"
    day: dt.date | None = None  # the business day of a day report
    timeline_step: str = "second"  # a day report's timeline is summed by the minute

    @property
    def zone(self) -> str:
        return self.clock.name


def _records(visits: Sequence[VisitInfo], cfg: ScoreConfig, clock: CafeClock) -> list[VisitRecord]:
    if not visits:
        return []
    vals = visit_valence([v.distribution for v in visits], cfg)
    return [VisitRecord(v.session_id, v.visit_no, clock.local(v.first_seen), clock.local(v.last_seen), v.frames,
                        list(v.distribution), float(val)) for v, val in zip(visits, vals, strict=True)]


def _timeline(points: Sequence[TimelinePoint], clock: CafeClock) -> list[TimelineRecord]:
    return [TimelineRecord(clock.local(p.at), p.frames, p.faces, list(p.distribution)) for p in points]


def _session_info(s: SessionInfo, clock: CafeClock) -> dict[str, object]:
    return {"id": s.id, "started_at": clock.local(s.started_at).isoformat(),
            "ended_at": clock.local(s.ended_at).isoformat() if s.ended_at else None, "status": s.status,
            "source": s.source, "site": s.site, "camera": s.camera, "model": s.model_name,
            "model_sha256": s.model_sha256, "provider": s.provider, "frames": s.frames}


def session_report(engine: Engine, ref: str, cfg: ScoreConfig, clock: CafeClock | None = None,
                   counter: Counter = EVERY_COUNTER) -> ReportData:
    """One session ('last' = the latest of the chosen counters), in the café's local time."""
    clock = clock or CafeClock.of()
    if ref != "last" and not ref.isdigit():
        raise ReportError(f"--session takes a session id or 'last', not {ref!r}")
    s = find_session(engine, ref, counter)
    if s is None:
        where = "" if counter == EVERY_COUNTER else f" at {counter.describe()}"
        raise ReportError(f"no sessions recorded yet{where}" if ref == "last" else f"no session with id {ref}{where}")
    clock = clock_for(engine, Counter(site=s.site), clock)  # the session's site's zone
    visits = visits_of(engine, [s.id])
    start, end = clock.local(s.started_at), clock.local(s.ended_at or s.started_at)
    return ReportData(
        title=f"Session {s.id} — {s.site} / {s.camera}",
        subtitle=f"{start:%A %d %B %Y, %H:%M}–{end:%H:%M} ({clock.name}) · source {Path(s.source).name or s.source} · "
                 f"model {s.model_name} · {s.status}",  # scores from different models differ
        start=start, end=end, score=score_visits([v.distribution for v in visits], cfg),
        visits=_records(visits, cfg, clock), timeline=_timeline(timeline_of(engine, s.id), clock), clock=clock,
        sessions=[_session_info(s, clock)], slug=f"session-{s.id}")


#: in a day report's file name, the site of a camera-only report (every site): never an encoded name
EVERY_SITE = "~"


def _name_part(name: str) -> str:
    """A site or camera name as one part of a file name: letters, digits, '_' and '.' kept,
    everything else (the '-' between parts, '/', spaces) percent-encoded, so parts never blur."""
    return re.sub(r"[^A-Za-z0-9_.]", lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), name)


def day_report_stem(day: dt.date, counter: Counter) -> str:
    """A day report's file name without extension: `day-2026-11-24-soho` (a site),
    `day-2026-11-24-soho-till` (a site's camera), `day-2026-11-24-~-till` (a camera of every site)."""
    parts = []
    if counter.site or counter.camera:
        parts.append(_name_part(counter.site) if counter.site else EVERY_SITE)
    if counter.camera:
        parts.append(_name_part(counter.camera))
    return "-".join(["day", day.isoformat(), *parts])


def parse_day_report_stem(stem: str) -> tuple[dt.date, Counter] | None:
    """The day and counters a `day_report_stem` names; None for any other name."""
    m = re.fullmatch(r"day-(\d{4}-\d{2}-\d{2})((?:-[^-]+){0,2})", stem)
    if m is None:
        return None
    try:
        day = dt.date.fromisoformat(m[1])
    except ValueError:
        return None
    parts = m[2].split("-")[1:]
    site = None if not parts or parts[0] == EVERY_SITE else unquote(parts[0])
    camera = unquote(parts[1]) if len(parts) == 2 else None
    counter = Counter(site=site, camera=camera)
    return (day, counter) if day_report_stem(day, counter) == stem else None  # only names we write


def day_report(engine: Engine, day: str, cfg: ScoreConfig, clock: CafeClock | None = None,
               counter: Counter = EVERY_COUNTER) -> ReportData:
    """One business day (the café's zone, from its day start) of the chosen counters."""
    clock = clock_for(engine, counter, clock or CafeClock.of())  # the site's own zone when recorded
    try:
        date = dt.date.fromisoformat(day)
    except ValueError as exc:
        raise ReportError(f"--day takes YYYY-MM-DD, not {day!r}") from exc
    start, end = clock.day_range(date)
    visits = visits_started(engine, start, end, counter)
    sessions = sessions_started(engine, start, end, counter)
    local_start, local_end = clock.local(start), clock.local(end)
    where = "" if counter == EVERY_COUNTER else f" — {counter.describe()}"
    slug = day_report_stem(date, counter)
    return ReportData(
        title=f"Day report — {date:%A %d %B %Y}{where}",
        subtitle=f"{len(sessions)} session(s), {counter.describe()} · business day {local_start:%d %b %H:%M}–"
                 f"{local_end:%d %b %H:%M} ({clock.name})",
        start=local_start, end=local_end, score=score_visits([v.distribution for v in visits], cfg),
        visits=_records(visits, cfg, clock), timeline=_timeline(timeline_minutes(engine, start, end, counter), clock),
        clock=clock, sessions=[_session_info(s, clock) for s in sessions], slug=slug, day=date, timeline_step="minute")


# --- writers -------------------------------------------------------------------

def write(data: ReportData, formats: Sequence[str], out: Path) -> list[Path]:
    """Write the report in each format into `out`; returns the files written."""
    try:
        private_folder(out, restrict=False)  # 0700 when made here; a folder the user chose keeps its mode
    except OSError as exc:
        raise ReportError(f"cannot create report folder {out}: {exc.strerror}") from exc
    if not os.access(out, os.W_OK):
        raise ReportError(f"report folder {out} is not writable")
    written: list[Path] = []
    try:
        for fmt in formats:
            if fmt == "pdf":
                written.append(write_pdf(data, out / f"{data.slug}.pdf"))
            elif fmt == "csv":
                written += write_csv(data, out)
            elif fmt == "json":
                written.append(write_json(data, out / f"{data.slug}.json"))
    except OSError as exc:
        raise ReportError(f"cannot write report into {out}: {exc.strerror or exc}") from exc
    return written


def _atomic(path: Path) -> Path:
    """The file a report is written to before it takes its name: created owner-only."""
    return new_private_file(path.with_name(path.name + ".part"))


def _wall(t: dt.datetime) -> str:
    """Local wall-clock time as spreadsheets read it (the zone is in its own column)."""
    return f"{t:%Y-%m-%d %H:%M:%S}"


def _seconds(a: dt.datetime, b: dt.datetime) -> float:
    """Elapsed seconds (in UTC: two local times of one zone subtract as wall clocks in Python)."""
    return (b.astimezone(dt.timezone.utc) - a.astimezone(dt.timezone.utc)).total_seconds()


def _utc_iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat()


def write_csv(data: ReportData, out: Path) -> list[Path]:
    """Local times first (with the business day and the zone), UTC beside them for machines."""
    visits_path, timeline_path = out / f"{data.slug}-visits.csv", out / f"{data.slug}-timeline.csv"
    tmp = _atomic(visits_path)
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["session_id", "visit", "business_day", "first_seen_local", "last_seen_local", "time_zone",
                    "first_seen_utc", "last_seen_utc", "seconds", "frames",
                    *[f"p_{c}" for c in CLASSES], "valence", "visit_score"])
        for v in data.visits:
            w.writerow([v.session_id, v.visit_no, data.clock.business_day(v.first_seen).isoformat(),
                        _wall(v.first_seen), _wall(v.last_seen), data.zone, _utc_iso(v.first_seen),
                        _utc_iso(v.last_seen), round(_seconds(v.first_seen, v.last_seen), 2), v.frames,
                        *[round(p, 4) for p in v.distribution], round(v.valence, 4), round(to_score(v.valence), 1)])
    tmp.replace(visits_path)
    tmp = _atomic(timeline_path)
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["at_local", "time_zone", "at_utc", "frames", "faces", *[f"p_{c}" for c in CLASSES]])
        for t in data.timeline:
            w.writerow([_wall(t.at), data.zone, _utc_iso(t.at), t.frames, t.faces,
                        *[round(p, 4) for p in t.distribution]])
    tmp.replace(timeline_path)
    return [visits_path, timeline_path]


def write_json(data: ReportData, path: Path) -> Path:
    doc = {
        "title": data.title, "time_zone": data.zone,
        "business_day": data.day.isoformat() if data.day else None,
        "start": data.start.isoformat(), "end": data.end.isoformat(),  # local, with their UTC offset
        "timeline_step": data.timeline_step,
        "summary": data.score.as_dict(), "sessions": data.sessions,
        "visits": [{"session_id": v.session_id, "visit": v.visit_no, "first_seen": v.first_seen.isoformat(),
                    "last_seen": v.last_seen.isoformat(), "frames": v.frames, "valence": round(v.valence, 4),
                    "distribution": dict(zip(CLASSES, [round(p, 4) for p in v.distribution], strict=True))}
                   for v in data.visits],
        "timeline": [{"at": t.at.isoformat(), "frames": t.frames, "faces": t.faces,
                      "distribution": dict(zip(CLASSES, [round(p, 4) for p in t.distribution], strict=True))}
                     for t in data.timeline],
    }
    tmp = _atomic(path)
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    return path


def summary_lines(score: Score) -> list[str]:
    if score.score is None:
        return ["No customer visits were recorded in this period."]
    top = sorted(score.mean_distribution.items(), key=lambda kv: -kv[1])[:3]
    caution = " — few visits: read the score with care" if score.visits < 10 else ""
    return [
        f"Satisfaction score: {score.score:.0f} / 100   (95% interval {score.low:.0f}–{score.high:.0f})",
        f"Customer visits: {score.visits}{caution}",
        f"Satisfied visits: {score.satisfied:.0%}    Dissatisfied visits: {score.dissatisfied:.0%}",
        "Dominant expressions: " + ", ".join(f"{k} {v:.0%}" for k, v in top),
    ]


def write_pdf(data: ReportData, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    tmp = _atomic(path)
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    try:
        _draw_pdf(tmp, data, fig, mdates, PdfPages)
    except Exception as exc:  # a full disk: matplotlib hides the OSError behind a zlib.error as it closes
        tmp.unlink(missing_ok=True)
        disk = _os_error(exc)
        if disk is not None and disk is not exc:
            raise OSError(disk.errno, disk.strerror, str(tmp)) from exc
        raise
    finally:
        plt.close(fig)
    tmp.replace(path)
    return path


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError behind an error (itself, or what it was raised while handling), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _draw_pdf(tmp: Path, data: ReportData, fig: Any, mdates: Any, pdf_pages: Any) -> None:
    with pdf_pages(tmp, metadata={"Title": data.title, "Creator": "Café Monitor"}) as pdf:
        fig.text(0.07, 0.955, data.title, fontsize=17, weight="bold")
        fig.text(0.07, 0.935, data.subtitle, fontsize=8.5, color="#555555")
        for i, line in enumerate(summary_lines(data.score)):
            fig.text(0.07, 0.895 - i * 0.022, line, fontsize=11 if i else 13, weight="bold" if i == 0 else None)
        ax1 = fig.add_axes((0.1, 0.58, 0.85, 0.2))
        _plot_score_over_time(ax1, data, mdates)
        ax2 = fig.add_axes((0.1, 0.33, 0.38, 0.18))
        _plot_mix(ax2, data.score)
        ax3 = fig.add_axes((0.58, 0.33, 0.37, 0.18))
        _plot_visits_per_hour(ax3, data)
        _visit_table(fig, data)
        fig.text(0.07, 0.02, f"Times are local ({data.zone}). Café Monitor stores numbers only (emotion "
                 "probabilities, counts, times), never images of customers.\nScore = mean visit valence mapped to "
                 "0–100, each visit counted once; the interval is a 95% bootstrap over visits (docs/user-guide.md).",
                 fontsize=7, color="#777777")
        pdf.savefig(fig)


def _plot_score_over_time(ax: object, data: ReportData, mdates: object) -> None:
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.gca()
    ax.set_title("Satisfaction over time", fontsize=11, loc="left")  # type: ignore[attr-defined]
    if data.timeline:
        at = [t.at for t in data.timeline if t.faces]
        vals = visit_valence([t.distribution for t in data.timeline if t.faces])
        if len(at):
            k = max(1, min(15, len(vals) // 10))
            smooth = np.convolve(vals, np.ones(k) / k, mode="same")
            ax.plot(at, [to_score(v) for v in smooth], color="#bbbbbb", lw=1,  # type: ignore[attr-defined]
                    label=f"faces in view (per {data.timeline_step})")
    if data.visits:
        cum = np.cumsum([v.valence for v in data.visits]) / np.arange(1, len(data.visits) + 1)
        ax.step([v.last_seen for v in data.visits], [to_score(c) for c in cum], where="post",  # type: ignore[attr-defined]
                color="#2ca02c", lw=2, label="score so far (by visit)")
        ax.scatter([v.last_seen for v in data.visits], [to_score(v.valence) for v in data.visits],  # type: ignore[attr-defined]
                   s=14, color="#1f77b4", zorder=3, label="each visit")
    ax.set_ylim(0, 100)  # type: ignore[attr-defined]
    ax.set_ylabel("score (0–100)")  # type: ignore[attr-defined]
    ax.axhline(50, color="#dddddd", lw=0.8, zorder=0)  # type: ignore[attr-defined]
    ax.set_xlabel(f"local time ({data.zone})", fontsize=8)  # type: ignore[attr-defined]
    locator = mdates.AutoDateLocator(tz=data.clock.tz)  # type: ignore[attr-defined]
    ax.xaxis.set_major_locator(locator)  # type: ignore[attr-defined]
    # a short session ticks in seconds: whole clock times ("09:06:55"), not "55 · 09:07 · 05"
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(  # type: ignore[attr-defined]
        locator, tz=data.clock.tz, formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"],
        zero_formats=["", "%Y", "%b", "%b-%d", "%H:%M", "%H:%M:%S"]))
    if data.timeline or data.visits:
        ax.legend(fontsize=7, loc="best")  # type: ignore[attr-defined]
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)  # type: ignore[attr-defined]


def _plot_mix(ax: object, score: Score) -> None:
    vals = [score.mean_distribution.get(c, 0.0) for c in CLASSES]
    ax.barh(list(CLASSES), vals, color=[COLOURS[c] for c in CLASSES])  # type: ignore[attr-defined]
    ax.invert_yaxis()  # type: ignore[attr-defined]
    ax.set_xlim(0, max(0.5, max(vals) * 1.15))  # type: ignore[attr-defined]
    ax.set_title("Emotion mix (mean over visits)", fontsize=11, loc="left")  # type: ignore[attr-defined]
    for i, v in enumerate(vals):
        ax.text(v + 0.01, i, f"{v:.0%}", va="center", fontsize=8)  # type: ignore[attr-defined]


def visits_per_hour(data: ReportData) -> list[tuple[str, int]]:
    """(local hour label, visits) in the order of the day. A day report has the business
    day's real hours (23-25, from the day start); a session report the hours it spans."""
    if data.day is not None:
        slots = data.clock.hours(data.day)
        counts = [0] * len(slots)
        for v in data.visits:
            i = data.clock.hour_index(v.first_seen, data.day)
            if i is not None:
                counts[i] += 1
        busy = [i for i, n in enumerate(counts) if n] or [0]
        first, last = min(busy), max(busy)
        return [(slots[i].label, counts[i]) for i in range(first, last + 1)]
    by_hour: dict[dt.datetime, int] = {}
    for v in data.visits:
        key = v.first_seen.replace(minute=0, second=0, microsecond=0)
        by_hour[key] = by_hour.get(key, 0) + 1
    return [(f"{k:%H}", n) for k, n in sorted(by_hour.items())]


def _plot_visits_per_hour(ax: object, data: ReportData) -> None:
    rows = visits_per_hour(data)
    x = list(range(len(rows)))
    ax.bar(x, [n for _, n in rows], color="#1f77b4")  # type: ignore[attr-defined]
    ax.set_xticks(x, [label for label, _ in rows], fontsize=7)  # type: ignore[attr-defined]
    ax.set_title(f"Visits per hour ({data.zone})", fontsize=11, loc="left")  # type: ignore[attr-defined]
    ax.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[attr-defined]


def _visit_table(fig: object, data: ReportData, rows: int = 12) -> None:
    shown = "" if len(data.visits) <= rows else f"; first {rows} shown"
    fig.text(0.07, 0.27, f"Visits ({len(data.visits)}{shown})", fontsize=11)  # type: ignore[attr-defined]
    if not data.visits:
        return
    ax = fig.add_axes((0.07, 0.065, 0.88, 0.195))  # type: ignore[attr-defined]  # above the notes
    ax.axis("off")
    cells = []
    for v in data.visits[:rows]:
        top = CLASSES[int(np.argmax(v.distribution))]
        cells.append([str(v.session_id), str(v.visit_no), f"{v.first_seen:%H:%M:%S}",
                      f"{_seconds(v.first_seen, v.last_seen):.0f} s", top,
                      f"{max(v.distribution):.0%}", f"{to_score(v.valence):.0f}"])
    height = (len(cells) + 1) / (rows + 1)  # a row's height stays the same with fewer rows
    table = ax.table(cellText=cells, colLabels=["session", "visit", "start (local)", "length", "main expression",
                                                "share", "visit score"], cellLoc="center",
                     bbox=[0, 1 - height, 1, height])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
