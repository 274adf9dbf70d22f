"""Live score at scale: 10,000 visits through one MonitorSession, camera paced at 30 fps.

    python benchmarks/live_score.py [--visits 10000] [--steady-seconds 20] [--old] [--json]

The camera is synthetic (30 fps, live, latest-frame-wins like a webcam) and the
pipeline is a stand-in that takes `--process-ms` per frame and ends visits: first
`--visits` of them as fast as `--burst` per frame, then one every two seconds for
`--steady-seconds` (a busy café with a long session behind it). Everything after the
pipeline is the real `MonitorSession` code: live score, recent mix, live state.

Measured: the pipeline stall each frame adds after processing (from `process` returning
to the live state being handed over: scoring, mix, state), its maximum and 99th
percentile, and frames the camera dropped because the consumer was late. `--old`
replaces the running-sum live score with what session.py did before (a full 2,000-
resample bootstrap over every visit at each reading) for comparison. A micro-benchmark
of one reading at 100 / 1k / 3k / 10k visits comes first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cafe_monitor import session as session_module
from cafe_monitor.capture import CaptureThread
from cafe_monitor.config import Settings
from cafe_monitor.pipeline import STAGES, FrameResult
from cafe_monitor.scoring import LiveScore, Score, ScoreConfig, score_visits
from cafe_monitor.tracking import Visit

FPS = 30.0


class SyntheticCamera:
    """A webcam stand-in: read() blocks until the next frame is due, like a real one."""

    def __init__(self) -> None:
        self.next_at = time.monotonic()
        self.index = 0
        self.rng = np.random.default_rng(0)

    def isOpened(self) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray]:
        self.next_at += 1 / FPS
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.index += 1
        image = np.zeros((72, 128, 3), np.uint8)
        image[0, : self.index % 128] = 255  # frames differ, so the frozen-camera watchdog stays quiet
        return True, image

    def release(self) -> None:
        pass

    def get(self, _prop: int) -> float:
        return FPS


@dataclass
class _Card:
    name: str = "stand-in"
    sha256: str = "0" * 64


@dataclass
class _Classifier:
    card: _Card = field(default_factory=_Card)
    engine: str = "stand-in"


class _Tracker:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def open_visits(self) -> list[Visit]:
        return [Visit(-i, 0.0, 1.0, 10, self.rng.dirichlet(np.ones(7)).astype(np.float32), 1.0) for i in range(3)]


class StandInPipeline:
    """Takes `process_ms` per frame and ends visits on a schedule; records stall times."""

    def __init__(self, visits: int, burst: int, steady_seconds: float, process_ms: float) -> None:
        self.rng = np.random.default_rng(1)
        self.classifier = _Classifier()
        self.tracker = _Tracker(self.rng)
        self.to_end, self.burst, self.process_ms = visits, burst, process_ms
        self.steady_seconds = steady_seconds
        self.steady_from: float | None = None
        self.next_id = 1
        self.returned_at = 0.0
        self.phase = "burst"
        self.stalls: dict[str, list[float]] = {"burst": [], "steady": []}
        self.frames = {"burst": 0, "steady": 0}

    def process(self, image: np.ndarray, timestamp: float, index: int = 0, now: float | None = None) -> FrameResult:
        busy_until = time.perf_counter() + self.process_ms / 1e3
        while time.perf_counter() < busy_until:  # a busy wait: the stand-in holds the core like inference does
            pass
        now = time.monotonic()
        if self.to_end > 0:
            n = min(self.burst, self.to_end)
        else:
            if self.steady_from is None:
                self.steady_from, self.phase = now, "steady"
            n = 1 if int((now - self.steady_from) * FPS) % int(2 * FPS) == 0 else 0
        self.to_end = max(self.to_end - n, 0)
        ended = [Visit(self.next_id + i, timestamp - 5, timestamp, 30,
                       self.rng.dirichlet(np.full(7, 0.5)).astype(np.float32), 1.0) for i in range(n)]
        self.next_id += n
        self.frames[self.phase] += 1
        self.returned_at = time.perf_counter()
        return FrameResult(image, index, timestamp, [], ended, 0, dict.fromkeys(STAGES, 0.0))

    def on_state(self, _state: session_module.LiveState) -> None:
        self.stalls[self.phase].append((time.perf_counter() - self.returned_at) * 1e3)

    def done(self) -> bool:
        return self.steady_from is not None and time.monotonic() - self.steady_from >= self.steady_seconds

    def finish(self) -> list[Visit]:
        return []

    def close(self) -> None:
        pass


class BootstrapEveryReading:
    """What session.py did before: the full bootstrap over every visit at each reading."""

    def __init__(self, config: ScoreConfig = ScoreConfig()) -> None:
        self.config = config
        self.done: list[np.ndarray] = []

    def add(self, distributions: list[np.ndarray]) -> None:
        self.done.extend(distributions)

    def score(self, open_distributions: Any = ()) -> Score:
        return score_visits([*self.done, *open_distributions], self.config)


def micro(sizes: tuple[int, ...] = (100, 1000, 3000, 10_000)) -> list[dict[str, float]]:
    rows = []
    rng = np.random.default_rng(2)
    for n in sizes:
        d = rng.dirichlet(np.full(7, 0.5), size=n)
        live = LiveScore()
        live.add(d)
        open_now = d[:3]
        t = time.perf_counter()
        for _ in range(200):
            live.score(open_now)
        running = (time.perf_counter() - t) / 200 * 1e3
        t = time.perf_counter()
        reps = 3 if n >= 3000 else 10
        for _ in range(reps):
            score_visits(d)
        boot = (time.perf_counter() - t) / reps * 1e3
        rows.append({"visits": n, "running_sums_ms": round(running, 3), "bootstrap_ms": round(boot, 1)})
    return rows


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"frames": 0}
    a = np.asarray(values)
    return {"frames": len(a), "median_ms": round(float(np.median(a)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3), "max_ms": round(float(a.max()), 3),
            "over_5ms": int((a > 5).sum())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--visits", type=int, default=10_000)
    p.add_argument("--burst", type=int, default=50, help="visits ended per frame until --visits are in")
    p.add_argument("--steady-seconds", type=float, default=20.0)
    p.add_argument("--process-ms", type=float, default=12.0, help="stand-in detection + classification per frame")
    p.add_argument("--old", action="store_true", help="score as before: full bootstrap at every reading")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    rows = micro()
    stand_in = StandInPipeline(args.visits, args.burst, args.steady_seconds, args.process_ms)
    capture = CaptureThread("0", opener=lambda _source: SyntheticCamera())
    if args.old:
        session_module.LiveScore = BootstrapEveryReading  # type: ignore[assignment, misc]
    monitor = session_module.MonitorSession(Settings(), store=False, pipeline=stand_in,  # type: ignore[arg-type]
                                            capture=capture)

    def on_state(state: session_module.LiveState) -> None:
        stand_in.on_state(state)
        if stand_in.done():
            monitor.stop()

    t0 = time.monotonic()
    result = monitor.run(on_state=on_state)
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "scoring": "bootstrap at every reading (before)" if args.old else "running sums (now)",
        "visits": stand_in.next_id - 1, "seconds": round(time.monotonic() - t0, 1),
        "frames": result.stats.frames, "dropped_frames": result.stats.dropped,
        "process_ms": args.process_ms,
        "stall_burst": summary(stand_in.stalls["burst"]),
        "stall_steady": summary(stand_in.stalls["steady"]),
        "final_score": result.score.as_dict()["score"],
        "one_reading": rows,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['scoring']}: {out['visits']} visits, {out['frames']} frames in {out['seconds']} s, "
              f"{out['dropped_frames']} dropped (camera {FPS:.0f} fps, stand-in pipeline {args.process_ms} ms/frame)")
        for phase in ("burst", "steady"):
            s = out[f"stall_{phase}"]
            print(f"  stall after processing, {phase}: {s}")
        print("  one live reading:")
        for r in rows:
            print(f"    {r['visits']:>6} visits: running sums {r['running_sums_ms']:.3f} ms, "
                  f"bootstrap {r['bootstrap_ms']:.1f} ms")
    worst = max(out["stall_burst"].get("max_ms", 0), out["stall_steady"].get("max_ms", 0))
    return 0 if args.old or (worst <= 5.0 and out["dropped_frames"] == 0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
