"""What checkpointing open visits costs the writer thread (issue 15, item 1).

A session's writer stores, once a second, the latest state of every open visit (an upsert
each) plus one timeline second. This times that commit with 1, 5 and 50 customers in view
for a minute of flushes, on SQLite (default) or any URL given, and reports the median and
worst commit: the writer runs on its own thread, so this is database time, not frame time.

    python benchmarks/writer.py [--db URL] [--seconds 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

from cafe_monitor import storage
from cafe_monitor.tracking import Visit


def run(url: str, open_visits: int, seconds: int) -> dict[str, float]:
    engine = storage.open_database(url)
    sid = storage.start_session(engine, source="0", site=f"bench-{open_visits}", camera="till", model_name="m",
                                model_sha256="0" * 64, provider="CPU", settings={})
    w = storage.SessionWriter(engine, sid, origin=time.time(), flush_seconds=3600)  # flushed by hand below
    dist = np.full(7, 1 / 7, np.float32)
    times = []
    for s in range(seconds):
        for v in range(open_visits):
            w._take(Visit(v + 1, 0.0, float(s), 25 * (s + 1), dist, float(s + 1)))
        w._take(storage.TimelineBucket(w.to_datetime(float(s)), 25, open_visits, tuple(dist.tolist())))
        t = time.perf_counter()
        assert w._flush()
        times.append((time.perf_counter() - t) * 1e3)
    w._flush(storage.writer._End("ended", dt.datetime.now(dt.timezone.utc), []))
    engine.dispose()
    return {"open_visits": open_visits, "median_ms": round(statistics.median(times), 2),
            "max_ms": round(max(times), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="SQLAlchemy URL (default: a fresh SQLite file)")
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        rows = [run(url, n, args.seconds) for n in (1, 5, 50)]
    print(json.dumps({"database": make_url(url).get_backend_name(), "per_flush": rows}, indent=2))


if __name__ == "__main__":
    main()
