"""Several cameras at once, paced like real cameras, with a `fer`-style baseline in the same run.

    python benchmarks/cameras.py [--seconds 6] [--rounds 2] [--counts 1 2 4] [--sizes 1280x720 640x360]
                                 [--systems NAME ...] [--json]

1, 2 and 4 cameras at 1280x720 and 640x360, each a capture thread reading a real face clip
from assets/ (cameras 1 and 3: the emotions clip; 2 and 4: the three-customers GIF; both
resized and re-encoded once, declared 30 fps) in real time, looping, so every camera
delivers 30 frames/s and drops what the processing loop has no time for. One loop serves
all cameras in turn (cafe_monitor.scheduler.RoundRobin, newest frame only), as the monitor
does. For each setup it reports per camera the processed frames/s, dropped frames, mean and
median capture-to-result latency, and the CPU the whole process used (decoding included,
process CPU time from psutil, in cores and as a share of the machine's), for:

  * floor: capture and decoding alone (the frames taken and thrown away): the least any
    monitor of these cameras must spend; every other system's CPU is also given above it,
    per camera;
  * every frame: the pipeline without a work planner, detection and classification on every
    frame (the defaults before issue 24); "every 2nd": the fixed `every_n_frames = 2` of then;
  * defaults: the pipeline with the default work planner (cafe_monitor.work_planner);
  * these with 2 loop workers (RoundRobin.run(workers=2), a detector per camera), so a
    second core works on another camera while one waits in MediaPipe or ONNX Runtime;
  * monitor: `cafe_monitor.monitor.Monitor` itself, as `cafe-monitor run --source ... --realtime
    --loop` runs it: the rotation with two workers, each camera its own pipeline as
    `build_pipeline` makes it from the default settings, one shared classifier, and each
    camera recorded as a session (SQLite in a temporary folder: rows, checkpoints, live
    score, status); "monitor, every frame" with `[detector] every_n_frames = 1` and
    `[classifier] readings_per_second = 0` (detect and classify every frame, as before issue 24);
  * fer-style: what the `fer` package does per frame: the whole frame to gray, OpenCV's Haar
    cascade (fer's settings: scale 1.1, 5 neighbours, 50 px faces), 40 px padding, crops
    resized to 64x64 for a mini-Xception (Arriaga et al. 2017, fer's model; the same layers
    and sizes, random weights, run by ONNX Runtime on one thread like ours, so it is
    kinder to the baseline than fer's TensorFlow). `fer` itself needs TensorFlow, not
    installed here.

The systems take turns, setup by setup, for `--rounds` rounds of `--seconds` each, and each
keeps its best round, so a shared machine's drifting load hits them alike; still, compare
the ratios of one run rather than absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil

from cafe_monitor import config
from cafe_monitor.capture import CaptureThread, Frame, Image
from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.detection import FaceDetector
from cafe_monitor.monitor import CameraPlan, Monitor
from cafe_monitor.paths import DEFAULT_MODEL
from cafe_monitor.pipeline import Pipeline
from cafe_monitor.scheduler import Feed, FeedRate, RoundRobin
from cafe_monitor.session import build_planner
from cafe_monitor.tracking import VisitTracker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.pipeline import reencoded  # noqa: E402  (a sibling script, not a package module)

SIZES = {"1280x720": (1280, 720), "640x360": (640, 360)}
FLOOR = "floor: capture and decoding only"
#: detection and classification on every frame (the defaults before issue 24)
EVERY_FRAME: dict[str, dict[str, Any]] = {"detector": {"every_n_frames": 1},
                                          "classifier": {"readings_per_second": 0}}
CLIPS = (REPO / "assets" / "demo_emotions.mp4", REPO / "assets" / "demo_three_customers.gif")
FPS = 30.0


def mini_xception_onnx(folder: Path) -> Path:
    """fer's emotion net's layers (64x64 gray in, 7 classes out, ~58k parameters) as ONNX."""
    import torch
    from torch import nn

    def separable(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                             nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    class Module(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
            self.main = nn.Sequential(separable(cin, cout), nn.ReLU(), separable(cout, cout),
                                      nn.MaxPool2d(3, stride=2, padding=1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.main(x) + self.residual(x)

    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        Module(8, 16), Module(16, 32), Module(32, 64), Module(64, 128),
        nn.Conv2d(128, 7, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Softmax(1),
    ).eval()
    path = folder / "mini_xception.onnx"
    torch.onnx.export(net, (torch.zeros(1, 1, 64, 64),), str(path), input_names=["faces"], output_names=["p"],
                      dynamic_axes={"faces": {0: "N"}, "p": {0: "N"}}, opset_version=17, dynamo=False)
    return path


class FerStyle:
    """The `fer` package's per-frame work (FER.detect_emotions with its Haar detector)."""

    PADDING, OFFSETS = 40, (10, 10)

    def __init__(self, model: Path) -> None:
        import onnxruntime as ort

        haar = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self.cascade = cv2.CascadeClassifier(str(haar))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])

    def process(self, image: Image) -> np.ndarray:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        faces = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(50, 50),
                                              flags=cv2.CASCADE_SCALE_IMAGE)
        p = self.PADDING
        padded = cv2.copyMakeBorder(gray, p, p, p, p, cv2.BORDER_CONSTANT, value=float(gray[-2:].mean()))
        crops = []
        for x, y, w, h in faces:
            side = max(w, h)
            cx, cy = x + w // 2, y + h // 2
            x1, y1 = cx - side // 2 - self.OFFSETS[0] + p, cy - side // 2 - self.OFFSETS[1] + p
            x2, y2 = x1 + side + 2 * self.OFFSETS[0], y1 + side + 2 * self.OFFSETS[1]
            crops.append(cv2.resize(padded[max(0, y1):y2, max(0, x1):x2], (64, 64)))
        if not crops:
            return np.zeros((0, 7), np.float32)
        batch = (np.asarray(crops, np.float32)[:, None] / 255.0 - 0.5) * 2.0
        return np.asarray(self.session.run(None, {"faces": batch})[0])


@dataclass(frozen=True)
class System:
    """One way of processing the cameras: a frame handler per camera, and how many loop workers."""

    make: Callable[[ExitStack], Callable[[Frame], object]]  # one per camera; closes its parts on exit
    workers: int = 1
    #: a thread of its own per camera (the monitor's former arrangement) instead of one rotation
    thread_per_camera: bool = False
    #: not None: run cafe_monitor.monitor.Monitor itself with these settings (a TOML-like table)
    monitor_settings: dict[str, dict[str, Any]] | None = None


def setup(n: int, clips: dict[int, Path], system: System, seconds: float, classifier: EmotionClassifier,
          folder: Path) -> dict[str, Any]:
    if system.monitor_settings is not None:
        return monitor_setup(n, clips, system.monitor_settings, seconds, classifier, folder)
    captures = [CaptureThread(str(clips[i % 2]), realtime=True, loop=True) for i in range(n)]
    for c in captures:
        c.open_or_raise()
    with ExitStack() as stack:
        feeds = [Feed.of_capture(f"camera {i + 1}", c, system.make(stack)) for i, c in enumerate(captures)]
        loops = [RoundRobin([f]) for f in feeds] if system.thread_per_camera else [RoundRobin(feeds)]

        def run() -> list[FeedRate]:
            for c in captures:
                c.start()
            try:
                threads = [threading.Thread(target=loop.run, kwargs={"max_seconds": seconds, "workers": system.workers})
                           for loop in loops[1:]]
                for t in threads:
                    t.start()
                loops[0].run(max_seconds=seconds, workers=system.workers)
                for t in threads:
                    t.join()
            finally:
                for c in captures:
                    c.stop()
                    c.join(5)
            return [r for loop in loops for r in loop.rates()]

        return measure(run)


def monitor_setup(n: int, clips: dict[int, Path], table: dict[str, dict[str, Any]], seconds: float,
                  classifier: EmotionClassifier, folder: Path) -> dict[str, Any]:
    """The Monitor as the command line runs it, recording every camera's session."""
    settings = config.parse(table)
    plans = [CameraPlan(f"camera-{i + 1}", str(clips[i % 2])) for i in range(n)]
    db = folder / f"monitor-{time.monotonic_ns()}.sqlite"
    monitor = Monitor(settings, plans, db_url=f"sqlite:///{db}", realtime=True, loop=True, classifier=classifier)

    def run() -> list[FeedRate]:
        runs = monitor.run(max_seconds=seconds)
        failed = [r for r in runs if r.error is not None]
        if failed:
            raise RuntimeError(f"camera {failed[0].name}: {failed[0].error}")
        assert monitor.rotation is not None
        return monitor.rotation.rates()

    try:
        result = measure(run)
    finally:
        monitor.close()
    result["shortfall"] = monitor.shortfall()  # what the monitor said at the end (its last 5 s)
    return result


def measure(run: Callable[[], list[FeedRate]]) -> dict[str, Any]:
    me = psutil.Process()
    psutil.cpu_percent(None)
    cpu0 = me.cpu_times()
    try:
        rates = run()
    finally:
        cpu1 = me.cpu_times()
        machine = psutil.cpu_percent(None) / 100 * (psutil.cpu_count() or 1)
    wall = rates[0].seconds
    ours = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall
    return {
        "cameras": [r.as_dict() for r in rates],
        "median_latency_ms_max": round(max(r.median_latency_ms for r in rates), 1),
        "fps_per_camera_min": round(min(r.fps for r in rates), 1),
        "fps_per_camera_max": round(max(r.fps for r in rates), 1),
        "fps_total": round(sum(r.fps for r in rates), 1),
        "dropped_total": sum(r.dropped for r in rates),
        "dropped_share": round(sum(r.dropped for r in rates) / max(1, sum(r.processed + r.dropped for r in rates)), 3),
        "cpu_cores_used": round(ours, 2),
        "cpu_share_of_machine": round(ours / (psutil.cpu_count() or 1), 3),
        "cpu_cores_busy_machine": round(machine, 2),  # others' load = busy machine - ours
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=6.0, help="per setup and round")
    p.add_argument("--rounds", type=int, default=2, help="each setup's best round is kept")
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--systems", nargs="+", help="only these (names as printed); fer-style and the floor always run")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cafe-cameras-"))
    classifier = EmotionClassifier(DEFAULT_MODEL)
    detector = FaceDetector("full_range")
    fer = FerStyle(mini_xception_onnx(folder))

    def ours(every_n: int, workers: int = 1, thread_per_camera: bool = False, planned: bool = False) -> System:
        """With one worker the cameras share one detector; with more, each has its own.
        `planned`: the default work planner (every_n ignored)."""
        def make(stack: ExitStack) -> Callable[[Frame], object]:
            alone = workers > 1 or thread_per_camera
            own = stack.enter_context(FaceDetector("full_range")) if alone else detector
            pipe = Pipeline(own, classifier, tracker=VisitTracker(), every_n_frames=every_n,
                            planner=build_planner(config.Settings()) if planned else None)
            return lambda f: pipe.process(f.image, f.timestamp, f.index)
        return System(make, workers, thread_per_camera)

    def nothing(_stack: ExitStack) -> Callable[[Frame], object]:
        return lambda f: None

    systems = {FLOOR: System(nothing),
               "every frame": ours(1), "defaults": ours(1, planned=True),
               "every frame, 2 workers": ours(1, 2), "every 2nd, 2 workers": ours(2, 2),
               "defaults, 2 workers": ours(1, 2, planned=True),
               # a thread per camera: `ours(1, thread_per_camera=True)` (measured in issue 17, docs/benchmarks.md)
               "monitor, every frame": System(nothing, monitor_settings=EVERY_FRAME),
               "monitor": System(nothing, monitor_settings={}),
               "fer-style": System(lambda _stack: lambda f: fer.process(f.image))}
    if args.systems:
        systems = {k: v for k, v in systems.items() if k in args.systems or k in ("fer-style", FLOOR)}
    cpu = psutil.cpu_count() or 0
    results: dict[str, Any] = {
        "machine": f"{_cpu_model()}, {cpu} logical CPUs, {platform.system()}",
        "engine": classifier.engine, "model": classifier.model_path.name, "date": time.strftime("%Y-%m-%d"),
        "camera_fps": FPS, "seconds_per_setup": args.seconds, "rounds": args.rounds,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    for size_name in args.sizes:
        size = SIZES[size_name]
        clips = {k: reencoded(reencoded(clip, folder, fps=FPS), folder, size=size) for k, clip in enumerate(CLIPS)}
        for n in args.counts:
            setup_results: dict[str, dict[str, Any]] = {}
            for _ in range(args.rounds):  # the systems take turns, so a shared machine's drift hits all
                for name, system in systems.items():
                    r = setup(n, clips, system, args.seconds, classifier, folder)
                    best = setup_results.get(name)
                    if best is None or r["fps_per_camera_min"] > best["fps_per_camera_min"]:
                        setup_results[name] = r
            base = setup_results["fer-style"]["fps_per_camera_min"]
            floor = setup_results[FLOOR]["cpu_cores_used"]
            for name in systems:
                r = setup_results[name]
                r["cpu_cores_above_floor_per_camera"] = round((r["cpu_cores_used"] - floor) / n, 3)
                if name not in ("fer-style", FLOOR):
                    r["ratio_vs_fer_style"] = round(float(r["fps_per_camera_min"]) / float(base), 2) if base else None
            results[f"{n} x {size_name}"] = setup_results
            if not args.json:
                _print(f"{n} x {size_name}", setup_results)
    detector.close()
    if args.json:
        print(json.dumps(results, indent=2))


def _print(label: str, rows: dict[str, dict[str, Any]]) -> None:
    for name, r in rows.items():
        ratio = f"  ({r['ratio_vs_fer_style']}x fer-style)" if "ratio_vs_fer_style" in r else ""
        print(f"{label:12} {name:34} {r['fps_per_camera_min']:5.1f}-{r['fps_per_camera_max']:5.1f} fps per camera, "
              f"dropped {r['dropped_share']:.1%}, median latency <= {r['median_latency_ms_max']} ms, "
              f"CPU {r['cpu_cores_used']} cores, {r['cpu_cores_above_floor_per_camera']} per camera above the "
              f"floor (machine {r['cpu_cores_busy_machine']}){ratio}"
              + (f"; says: {r['shortfall']}" if r.get("shortfall") else ""), flush=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
