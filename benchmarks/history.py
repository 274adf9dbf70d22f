"""Read side at a year's scale: History day switch and day reports on SQLite and PostgreSQL.

    python benchmarks/history.py [--db sqlite:///year.db] [--days 365] [--visits 400] [--sites 2] \
        [--timeline-days 30] [--repeat 7] [--json]

Seeds a year of a chain's data (per site and business day: one session 07:00-22:00 in
Europe/London, `--visits` visits spread over it, and for the last `--timeline-days` days,
which the default 30-day retention keeps, one timeline row per second of opening), then
times what a person waits for, on randomly chosen days:

- History day switch: everything the History tab loads for a day (`history.load_day`:
  day visits, hourly scores with bootstrap intervals, sessions with their scores, the
  28-day trend, plus the site and camera lists), for every site and for one site;
- day report: `reports.day_report` (the numbers), and writing it as CSV+JSON and as PDF
  (after one untimed PDF: a process's first also imports matplotlib, reported apart);
- `cafe-monitor sessions`: the last 50 sessions with their scores.

A database that already holds the seeded year is reused (`--reseed` to start again).
The target is under 1 s for the day switch and the day report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, text

from cafe_monitor import history, reports, storage
from cafe_monitor.domain import CLASSES
from cafe_monitor.localtime import CafeClock
from cafe_monitor.scoring import ScoreConfig
from cafe_monitor.storage.queries import Counter, cameras, recent_sessions, sites

CLOCK = CafeClock.of("Europe/London", "04:00")
OPEN, CLOSE = dt.time(7), dt.time(22)
CFG = ScoreConfig()
UTC = dt.timezone.utc


def _probs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.dirichlet(np.full(len(CLASSES), 0.6), size=n)


def _batches(rows: Iterator[dict[str, Any]], size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(engine: storage.Engine, last_day: dt.date, days: int, visits: int, n_sites: int, timeline_days: int) -> None:
    rng = np.random.default_rng(0)
    site_names = ["soho", "leeds", "york", "bath"][:n_sites]
    visit_table, timeline_table = storage.VisitRow.__table__, storage.TimelineRow.__table__
    t0 = time.perf_counter()
    for d in range(days):
        day = last_day - dt.timedelta(days=days - 1 - d)
        opens = dt.datetime.combine(day, OPEN, tzinfo=CLOCK.tz).astimezone(UTC)
        closes = dt.datetime.combine(day, CLOSE, tzinfo=CLOCK.tz).astimezone(UTC)
        span = (closes - opens).total_seconds()
        for site in site_names:
            with storage.session_scope(engine) as s:
                row = storage.SessionRow(started_at=opens, ended_at=closes, status="ended", source="0", site=site,
                                         camera="till", model_name="emotion_cascade.int8", model_sha256="0" * 64,
                                         provider="CPU int8", settings={}, frames=int(span * 25))
                s.add(row)
                s.commit()
                sid = row.id
            starts = np.sort(rng.uniform(0, span - 120, size=visits))
            p = _probs(rng, visits)
            rows = [{"session_id": sid, "visit_no": i + 1, "first_seen": opens + dt.timedelta(seconds=float(t)),
                     "last_seen": opens + dt.timedelta(seconds=float(t) + 20 + 60 * float(rng.random())),
                     "frames": 200, **{f"p_{c}": float(x) for c, x in zip(CLASSES, p[i], strict=True)}}
                    for i, t in enumerate(starts)]
            with engine.begin() as c:
                c.execute(insert(visit_table), rows)
            if d >= days - timeline_days:
                seconds = int(span)
                tp = _probs(rng, 1)[0]
                faces = rng.integers(0, 3, size=seconds)

                def points(sid: int = sid, opens: dt.datetime = opens, faces: np.ndarray = faces,
                           tp: np.ndarray = tp) -> Iterator[dict[str, Any]]:
                    for k in range(len(faces)):
                        yield {"session_id": sid, "at": opens + dt.timedelta(seconds=k), "frames": 25,
                               "faces": int(faces[k]),
                               **{f"p_{c}": float(x) if faces[k] else 0.0 for c, x in zip(CLASSES, tp, strict=True)}}

                for batch in _batches(points()):
                    with engine.begin() as c:
                        c.execute(insert(timeline_table), batch)
        if d % 30 == 29:
            print(f"  seeded {d + 1}/{days} days ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(text("ANALYZE"))


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = storage.open_database(url)
    with engine.connect() as c:
        have = c.scalar(select(func.count()).select_from(storage.SessionRow.__table__)) or 0
    last_day = dt.date(2026, 11, 29)
    if have and args.reseed:
        raise SystemExit(f"{url} already holds data: give a fresh database to reseed")
    if not have:
        print(f"seeding {url}: {args.days} days x {args.visits} visits x {args.sites} sites …", file=sys.stderr)
        t = time.perf_counter()
        seed(engine, last_day, args.days, args.visits, args.sites, args.timeline_days)
        print(f"  done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    with engine.connect() as c:
        counts = {name: c.scalar(select(func.count()).select_from(table.__table__)) for name, table in
                  (("sessions", storage.SessionRow), ("visits", storage.VisitRow), ("timeline", storage.TimelineRow))}
    rng = np.random.default_rng(1)
    recent = [last_day - dt.timedelta(days=int(k)) for k in rng.integers(0, args.timeline_days, size=args.repeat)]
    older = [last_day - dt.timedelta(days=int(k)) for k in rng.integers(args.timeline_days, args.days - 28,
                                                                           size=args.repeat)]
    site = sites(engine)[0]
    out_dir = Path(tempfile.mkdtemp(prefix="cafe-bench-"))

    def cycle(days: list[dt.date]) -> Callable[[], dt.date]:
        it = iter(days * 10)
        return lambda: next(it)

    def switch(counter: Counter, pick: Callable[[], dt.date]) -> Callable[[], object]:
        def go() -> object:  # what the History loader thread runs for one day change
            view = history.load_day(engine, pick(), CLOCK, CFG, counter, compare_day=None)
            return view, sites(engine), cameras(engine, counter.site)
        return go

    def report(counter: Counter, pick: Callable[[], dt.date], formats: list[str]) -> Callable[[], object]:
        def go() -> object:
            data = reports.day_report(engine, pick().isoformat(), CFG, CLOCK, counter)
            return reports.write(data, formats, out_dir) if formats else data
        return go

    every, one = Counter(), Counter(site=site)
    t = time.perf_counter()
    report(one, cycle(older), ["pdf"])()  # once, untimed: the process's first PDF imports matplotlib
    first_pdf = round(time.perf_counter() - t, 3)
    figures = {
        "history_day_switch_all_sites": timed(switch(every, cycle(recent)), args.repeat),
        "history_day_switch_one_site": timed(switch(one, cycle(recent)), args.repeat),
        "history_day_switch_older_day": timed(switch(every, cycle(older)), args.repeat),
        "day_report_numbers_all_sites": timed(report(every, cycle(recent), []), args.repeat),
        "day_report_numbers_one_site": timed(report(one, cycle(recent), []), args.repeat),
        "day_report_csv_json_one_site": timed(report(one, cycle(recent), ["csv", "json"]), args.repeat),
        "day_report_pdf_one_site": timed(report(one, cycle(recent), ["pdf"]), max(2, args.repeat // 2)),
        "sessions_last_50": timed(lambda: history.scored_sessions(engine, recent_sessions(engine, 50), CFG),
                                  args.repeat),
    }
    engine.dispose()
    return {"database": engine.dialect.name, "rows": counts, "first_pdf_in_process_s": first_pdf, "figures": figures}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", action="append", help="SQLAlchemy URL (repeatable; default: a SQLite file in /tmp, "
                                                  "and CAFE_MONITOR_TEST_PG when set)")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--visits", type=int, default=400, help="visits per site and day")
    p.add_argument("--sites", type=int, default=2)
    p.add_argument("--timeline-days", type=int, default=30, help="latest days with per-second rows (retention)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--reseed", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    urls = args.db or [f"sqlite:///{tempfile.gettempdir()}/cafe-bench-year.db",
                       *([os.environ["CAFE_MONITOR_TEST_PG"]] if os.environ.get("CAFE_MONITOR_TEST_PG") else [])]
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
               "runs": [run(u, args) for u in urls]}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results["runs"]:
            print(f"\n{r['database']}: {r['rows']}")
            for name, f in r["figures"].items():
                print(f"  {name:32} median {f['median_s']:.3f} s   max {f['max_s']:.3f} s")
    worst = max(f["max_s"] for r in results["runs"] for name, f in r["figures"].items()
                if name.startswith(("history_day_switch", "day_report_numbers")))
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
