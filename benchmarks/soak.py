"""Soak: the real headless monitor, several cameras at once, for hours; samples its memory,
threads, open files, CPU and database size, then checks that every visit it counted is stored.

    python benchmarks/soak.py --minutes 120 --cameras 4 --out docs/soak.csv --plot docs/soak.png
    python benchmarks/soak.py --plot docs/soak.png --from-csv docs/soak.csv   # redraw only

Each camera plays a looping churn clip paced like a camera: the demo clip's customer, then
a few seconds of an empty counter, so every loop is a new visit (visits open, end, get
written and scored all run long). The monitor is a separate process started the way a café
starts it (`cafe-monitor run --headless`), so what is sampled is the product, not this script.

Flat means: memory (RSS), threads and open files after a warm-up (default the first 20% of
the run) within --max-growth (5%) at the end; the exit code is 1 otherwise, or when the
visits stored differ from the visits the monitor counted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
from pipeline_options import frames_of  # the sibling script: one way to read a clip

REPO = Path(__file__).resolve().parents[1]
#: seconds of empty counter after each customer: longer than `[tracker] max_gap_seconds` (2 s)
EMPTY_SECONDS = 3.5
FLAT_KEYS = ("rss_mb", "threads", "open_files")


def churn_clip(clip: Path, out: Path) -> tuple[int, float]:
    """The clip followed by an empty counter (its first frame's mean colour); (frames, fps)."""
    frames, fps = frames_of(clip)
    if not frames:
        raise SystemExit(f"cannot read {clip}")
    empty = np.full_like(frames[0], frames[0].reshape(-1, 3).mean(axis=0).astype(np.uint8))
    frames += [empty] * round(EMPTY_SECONDS * fps)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return len(frames), fps


def tree_sample(proc: psutil.Process) -> dict[str, float]:
    """The monitor's figures (it runs as one process; children, if any, counted too)."""
    procs = [proc, *proc.children(recursive=True)]
    return {
        "rss_mb": round(sum(p.memory_info().rss for p in procs) / 2**20, 1),
        "threads": sum(p.num_threads() for p in procs),
        "open_files": sum(p.num_fds() for p in procs),
        "cpu_s": sum(sum(p.cpu_times()[:2]) for p in procs),
    }


def plot(samples: list[dict[str, float]], path: Path, title: str) -> None:
    """Memory, threads, open files, CPU and database size against time: flat lines (and a
    database growing in a straight line) are the result to look for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["t_s"] / 60 for s in samples]
    panels = (("rss_mb", "RSS (MB)"), ("threads", "threads"), ("open_files", "open files"),
              ("cpu_cores", "CPU (cores)"), ("db_mb", "database (MB)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 2.9))
    for ax, (key, label) in zip(axes, panels, strict=True):
        values = [s[key] for s in samples]
        ax.plot(minutes, values)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("minutes")
        ax.set_ylim(0, max(values) * 1.25 or 1)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_csv(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def stored_visits(db: Path) -> dict[str, int]:
    """Visits in the database per camera name (read-only, as another program would)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT s.camera, count(v.id) FROM sessions s LEFT JOIN visits v "
                           "ON v.session_id = s.id GROUP BY s.camera").fetchall()
    finally:
        con.close()
    return {camera: n for camera, n in rows}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--cameras", type=int, default=4, choices=range(1, 5))
    p.add_argument("--clip", type=Path, default=REPO / "assets" / "demo_emotions.mp4")
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of the run before figures are compared")
    p.add_argument("--max-growth", type=float, default=0.05)
    p.add_argument("--out", type=Path, help="CSV of the samples")
    p.add_argument("--plot", type=Path, help="PNG of the samples over the run")
    p.add_argument("--from-csv", type=Path, help="only draw --plot from an earlier run's CSV")
    args = p.parse_args()

    def title(minutes: float) -> str:
        return (f"Soak: {minutes:.0f} min, headless monitor, {args.cameras} cameras each looping "
                f"{args.clip.name} + {EMPTY_SECONDS} s empty, paced like a camera, storage on "
                f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()}-core {platform.machine()})")

    if args.from_csv:
        if not args.plot:
            p.error("--from-csv needs --plot")
        drawn = read_csv(args.from_csv)
        plot(drawn, args.plot, title(drawn[-1]["t_s"] / 60))
        return 0

    home = Path(tempfile.mkdtemp(prefix="cafe-soak-"))
    clip = home / "churn.mp4"
    clip_frames, fps = churn_clip(args.clip, clip)
    db = home / "soak.db"
    names = [f"cam{i + 1}" for i in range(args.cameras)]
    cmd = [sys.executable, "-m", "cafe_monitor", "run", "--headless", "--json", "--realtime", "--loop",
           "--db", f"sqlite:///{db}", *[a for n in names for a in ("--source", f"{n}={clip}")]]
    log = (home / "monitor.log").open("w")
    monitor = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO,
                               env={**os.environ, "CAFE_MONITOR_HOME": str(home)})
    print(f"monitor pid {monitor.pid}, data folder {home}; {args.cameras} cameras, a visit every "
          f"{clip_frames / fps:.1f} s each", flush=True)
    proc = psutil.Process(monitor.pid)
    started = time.monotonic()
    samples: list[dict[str, float]] = []
    last_cpu, last_t = 0.0, started
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(args.every)
            if monitor.poll() is not None:
                raise SystemExit(f"the monitor ended early (exit {monitor.returncode}); see {home / 'monitor.log'}")
            now = time.monotonic()
            s = tree_sample(proc)
            db_bytes = sum(f.stat().st_size for f in home.glob("soak.db*"))  # with its WAL
            sample = {"t_s": round(now - started, 1), "rss_mb": s["rss_mb"], "threads": s["threads"],
                      "open_files": s["open_files"], "cpu_cores": round((s["cpu_s"] - last_cpu) / (now - last_t), 3),
                      "db_mb": round(db_bytes / 2**20, 2)}
            last_cpu, last_t = s["cpu_s"], now
            samples.append(sample)
            print(f"{sample['t_s']:7.0f}s rss {sample['rss_mb']:6.1f} MB  threads {sample['threads']:3.0f}  "
                  f"fds {sample['open_files']:3.0f}  cpu {sample['cpu_cores']:5.2f} cores  "
                  f"db {sample['db_mb']:7.2f} MB", flush=True)
    finally:
        monitor.send_signal(signal.SIGTERM)  # what systemd sends: sessions end, open visits stored
        out, _ = monitor.communicate(timeout=120)
        log.close()
    summary = json.loads(out)
    per_camera = summary.get("cameras", [{**summary, "camera_name": names[0]}])  # one camera: one object
    counted = {c["camera_name"]: len(c["visits"]) for c in per_camera}
    stored = stored_visits(db)
    expected = {n: int(args.minutes * 60 / (clip_frames / fps)) for n in names}
    if args.out:
        with args.out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(samples[0]))
            w.writeheader()
            w.writerows(samples)
    if args.plot:
        plot(samples, args.plot, title(args.minutes))
    tracebacks = (home / "monitor.log").read_text().count("Traceback")
    after = [s for s in samples if s["t_s"] >= args.warmup * args.minutes * 60]
    middle = after[len(after) // 2]
    flat = True
    for key in FLAT_KEYS:
        base, end = after[0][key], max(s[key] for s in after[-3:])
        growth = (end - base) / base
        flat &= growth <= args.max_growth
        print(f"{key:10s} start {samples[0][key]:7.1f}  after warm-up {base:7.1f}  middle {middle[key]:7.1f}  "
              f"end {end:7.1f}  ({growth:+.1%} after warm-up)")
    print(f"database   start {samples[0]['db_mb']:.2f} MB  middle {middle['db_mb']:.2f} MB  "
          f"end {samples[-1]['db_mb']:.2f} MB")
    print(f"CPU        {sum(s['cpu_cores'] for s in after) / len(after):.2f} cores on average after warm-up")
    for n in names:
        print(f"{n}: visits counted {counted.get(n, 0)}, stored {stored.get(n, 0)}, "
              f"loops played ~{expected[n]}")
    print(f"tracebacks in the monitor's log: {tracebacks}")
    same = counted == {n: stored.get(n, 0) for n in names}
    print(f"summary: {args.minutes:.0f} min, {args.cameras} cameras; "
          f"{'flat' if flat else 'NOT flat'}; visits stored {'=' if same else '!='} visits counted")
    return 0 if flat and same and tracebacks == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
