"""Soak: the full pipeline with storage on a looping clip, paced like a camera, for a
given time; samples memory, fps, open files, threads and database size.

    python benchmarks/soak.py --minutes 30 [--clip assets/demo_emotions.mp4] [--out docs/soak.csv] \
        [--plot docs/soak.png]
    python benchmarks/soak.py --plot docs/soak.png --from-csv docs/soak.csv   # redraw only

Memory must stay flat: the summary reports RSS growth after a warm-up (default the
first 20% of the run) and exits 1 if it exceeds --max-growth (5%).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

import psutil

from cafe_monitor.config import Settings
from cafe_monitor.session import LiveState, MonitorSession

REPO = Path(__file__).resolve().parents[1]


def plot(samples: list[dict[str, float]], path: Path, title: str) -> None:
    """Memory, CPU and fps against time: flat lines are the result to look for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.9))
    panels = (("rss_mb", "RSS (MB)", None), ("cpu_percent", "CPU (% of one core)", 100), ("fps", "processed fps", None))
    for ax, (key, label, top) in zip(axes, panels, strict=True):
        values = [s[key] for s in samples]
        ax.plot(minutes, values)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("minutes")
        ax.set_ylim(0, top or max(values) * 1.25)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def read_csv(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--clip", type=Path, default=REPO / "assets" / "demo_emotions.mp4")
    p.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=0.2, help="fraction of the run before memory is compared")
    p.add_argument("--max-growth", type=float, default=0.05)
    p.add_argument("--out", type=Path, help="CSV of the samples")
    p.add_argument("--plot", type=Path, help="PNG of memory, CPU and fps over the run")
    p.add_argument("--from-csv", type=Path, help="only draw --plot from an earlier run's CSV")
    args = p.parse_args()

    def title(minutes: float) -> str:
        return (f"Soak: {minutes:.0f} min, looping {args.clip.name} paced like a camera, storage on "
                f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()}-core {platform.machine()})")

    if args.from_csv:
        if not args.plot:
            p.error("--from-csv needs --plot")
        samples = read_csv(args.from_csv)
        plot(samples, args.plot, title(samples[-1]["t_s"] / 60))
        return 0

    folder = Path(tempfile.mkdtemp(prefix="cafe-soak-"))
    db = folder / "soak.db"
    session = MonitorSession(Settings(), source=str(args.clip), db_url=f"sqlite:///{db}", realtime=True, loop=True)
    frames = 0

    def on_state(state: LiveState) -> None:
        nonlocal frames
        frames += 1

    result: list[object] = []
    runner = threading.Thread(target=lambda: result.append(session.run(on_state=on_state)), daemon=True)
    proc = psutil.Process(os.getpid())
    proc.cpu_percent(None)
    started = time.monotonic()
    runner.start()
    samples: list[dict[str, float]] = []
    last_frames, last_t = 0, started
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(args.every)
            now = time.monotonic()
            db_bytes = sum(f.stat().st_size for f in folder.glob("soak.db*"))  # with its WAL (checkpointed at ~4 MB)
            samples.append({
                "t_s": round(now - started, 1),
                "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                "cpu_percent": round(proc.cpu_percent(None), 1),
                "fps": round((frames - last_frames) / (now - last_t), 1),
                "open_files": proc.num_fds() if hasattr(proc, "num_fds") else len(proc.open_files()),
                "threads": proc.num_threads(),
                "db_kb": round(db_bytes / 1024, 1),
                "dropped": session.capture.slot.dropped,
            })
            last_frames, last_t = frames, now
            s = samples[-1]
            print(f"{s['t_s']:7.0f}s rss {s['rss_mb']:6.1f} MB  cpu {s['cpu_percent']:5.1f}%  fps {s['fps']:5.1f}  "
                  f"fds {s['open_files']:3.0f}  threads {s['threads']:3.0f}  db {s['db_kb']:8.1f} kB", flush=True)
    finally:
        session.stop()
        runner.join(30)
        session.pipeline.close()
    if args.out:
        with args.out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(samples[0]))
            w.writeheader()
            w.writerows(samples)
    if args.plot:
        plot(samples, args.plot, title(args.minutes))
    after = [s for s in samples if s["t_s"] >= args.warmup * args.minutes * 60]
    base, end = after[0]["rss_mb"], max(s["rss_mb"] for s in after[-3:])
    growth = (end - base) / base
    fps = [s["fps"] for s in after]
    print(f"summary: {args.minutes:.0f} min, {frames} frames, fps mean {sum(fps) / len(fps):.1f} "
          f"(min {min(fps):.1f}); RSS after warm-up {base:.1f} -> {end:.1f} MB ({growth:+.1%}); "
          f"open files {after[0]['open_files']:.0f} -> {after[-1]['open_files']:.0f}; threads "
          f"{after[0]['threads']:.0f} -> {after[-1]['threads']:.0f}; database {samples[-1]['db_kb']:.0f} kB; "
          f"CPU {sum(s['cpu_percent'] for s in after) / len(after):.0f}% of one core")
    return 0 if growth < args.max_growth else 1


if __name__ == "__main__":
    raise SystemExit(main())
