"""End-to-end and per-stage speed of the pipeline, with a baseline timed in the same run.

    python benchmarks/pipeline.py [--clip assets/demo_emotions.mp4] [--repeat 2]

For the clip at its size (640x360) and upscaled to 1280x720 it prints frames/s end to
end and mean milliseconds per stage (decode, detect, preprocess, classify, track), then
the same for a baseline that swaps MediaPipe for OpenCV's Haar cascade (the detector of
the `fer` and `facex` packages) with the same classifier, and our speed as a ratio to it.
Also: classifier faces/s by batch size. Figures vary between runs on a shared machine:
compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.detection import Detection, FaceDetector
from cafe_monitor.domain import Box
from cafe_monitor.paths import DEFAULT_MODEL
from cafe_monitor.pipeline import Pipeline
from cafe_monitor.tracking import VisitTracker

REPO = Path(__file__).resolve().parents[1]


class HaarDetector:
    """Baseline: OpenCV's frontal-face Haar cascade, as the `fer` package uses it."""

    def __init__(self) -> None:
        self.cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))

    def detect(self, image: np.ndarray) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        faces = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        return [Detection(Box(float(x), float(y), float(x + w), float(y + h)), 1.0) for x, y, w, h in faces]

    def close(self) -> None:
        pass


def reencoded(clip: Path, folder: Path, size: tuple[int, int] | None = None, fps: float | None = None) -> Path:
    """The clip re-encoded at another size (so decoding is timed on a real file of that
    size) or declared at another frame rate (to pace it like a camera of that rate)."""
    cap = cv2.VideoCapture(str(clip))
    fps = fps or cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = size or (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    out = folder / f"{clip.stem}_{size[0]}x{size[1]}_{fps:.0f}fps.mp4"
    if not out.exists():
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        while True:
            ok, f = cap.read()
            if not ok:
                break
            writer.write(f if f.shape[1::-1] == size else cv2.resize(f, size, interpolation=cv2.INTER_CUBIC))
        writer.release()
    cap.release()
    return out


def decode(clip: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(clip))
    frames, t0 = [], time.perf_counter()
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, (time.perf_counter() - t0) * 1e3 / max(1, len(frames))


def run(detector: object, classifier: EmotionClassifier, frames: list[np.ndarray], decode_ms: float,
        repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    for _ in range(repeat):
        pipe = Pipeline(detector, classifier, tracker=VisitTracker())  # type: ignore[arg-type]
        stages = {"detect": 0.0, "preprocess": 0.0, "classify": 0.0, "track": 0.0}
        faces = 0
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            r = pipe.process(f, i / 25.0, i)
            faces += len(r.faces)
            for k, v in r.timings_ms.items():
                stages[k] += v
        wall = (time.perf_counter() - t0) * 1e3 / len(frames)
        result = {"decode_ms": round(decode_ms, 2), **{f"{k}_ms": round(v / len(frames), 2) for k, v in stages.items()},
                  "process_ms": round(wall, 2), "fps_end_to_end": round(1e3 / (wall + decode_ms), 1),
                  "faces_per_frame": round(faces / len(frames), 2)}
        if best is None or result["fps_end_to_end"] > best["fps_end_to_end"]:
            best = result
    assert best is not None
    return best


def threaded(detector: object, classifier: EmotionClassifier, clip: Path) -> float:
    """The real arrangement: capture thread decoding while a session (not storing) processes."""
    from cafe_monitor.config import Settings
    from cafe_monitor.session import MonitorSession

    pipeline = Pipeline(detector, classifier, tracker=VisitTracker())  # type: ignore[arg-type]
    result = MonitorSession(Settings(), source=str(clip), store=False, pipeline=pipeline).run()
    return round(result.stats.fps, 1)


def multi_face(detector: object, classifier: EmotionClassifier, media: Path) -> dict[str, dict[str, float]]:
    """Per-stage ms on 1280x720 frames holding 1, 3 and 6 real faces (stills from ../shared/media)."""
    stills = {1: "skimage_astronaut.png", 3: "azure_detection5_family3.jpg", 6: "azure_faces_family6.jpg"}
    out = {}
    for n, name in stills.items():
        img = cv2.imread(str(media / name))
        if img is None:
            continue
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        scale = min(1280 / img.shape[1], 720 / img.shape[0])
        small = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
        canvas[: small.shape[0], : small.shape[1]] = small
        pipe = Pipeline(detector, classifier, tracker=VisitTracker())  # type: ignore[arg-type]
        totals = {"detect": 0.0, "preprocess": 0.0, "classify": 0.0, "track": 0.0}
        faces = 0
        reps = 60
        t0 = time.perf_counter()
        for i in range(reps):
            r = pipe.process(canvas, i / 30.0, i)
            faces = max(faces, len(r.faces))
            for k, v in r.timings_ms.items():
                totals[k] += v
        wall = (time.perf_counter() - t0) * 1e3 / reps
        out[f"{n}_faces"] = {"faces_found": faces, "process_ms": round(wall, 2), "fps": round(1e3 / wall, 1),
                             **{f"{k}_ms": round(v / reps, 2) for k, v in totals.items()}}
    return out


def camera_rate(detector: object, classifier: EmotionClassifier, clip: Path, seconds: float = 20.0) -> dict[str, float]:
    """Paced like a camera (the clip's own fps): capture-to-result latency and CPU use."""
    import resource

    from cafe_monitor.capture import CaptureThread

    cap = CaptureThread(str(clip), realtime=True, loop=True)
    cap.open_or_raise()
    pipe = Pipeline(detector, classifier, tracker=VisitTracker())  # type: ignore[arg-type]
    latencies: list[float] = []
    cap.start()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        frame = cap.slot.get(timeout=0.5)
        if frame is None:
            continue
        pipe.process(frame.image, frame.timestamp, frame.index)
        cap.frame_taken()
        latencies.append((time.monotonic() - frame.captured_at) * 1e3)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cap.stop()
    cap.join(5)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    lat = sorted(latencies)
    return {"input_fps": round(cap.frames_read / wall, 1), "processed_fps": round(len(lat) / wall, 1),
            "latency_ms_median": round(lat[len(lat) // 2], 1), "latency_ms_p95": round(lat[int(len(lat) * 0.95)], 1),
            "cpu_cores_used": round(cpu / wall, 2), "dropped": cap.slot.dropped}


def classifier_throughput(classifier: EmotionClassifier) -> dict[int, float]:
    rng = np.random.default_rng(0)
    out = {}
    for batch in (1, 4, 16, 64):
        faces = rng.integers(0, 256, (batch, 48, 48), dtype=np.uint8)
        classifier.classify(faces)
        times = []
        for _ in range(max(5, 200 // batch)):
            t0 = time.perf_counter()
            classifier.classify(faces)
            times.append(time.perf_counter() - t0)
        out[batch] = round(batch / statistics.median(times))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", type=Path, default=REPO / "assets" / "demo_emotions.mp4")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    classifier = EmotionClassifier(args.model)
    results: dict[str, object] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "provider": classifier.provider, "engine": classifier.engine, "model": classifier.model_path.name,
        "clip": args.clip.name, "date": time.strftime("%Y-%m-%d"),
    }
    ours = FaceDetector("full_range")
    haar = HaarDetector()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="cafe-bench-"))
    for label, clip in (("640x360", args.clip), ("1280x720", reencoded(args.clip, tmp, size=(1280, 720)))):
        frames, decode_ms = decode(clip)
        mine = run(ours, classifier, frames, decode_ms, args.repeat)
        base = run(haar, classifier, frames, decode_ms, args.repeat)
        mine["fps_threaded"] = threaded(ours, classifier, clip)
        base["fps_threaded"] = threaded(haar, classifier, clip)
        results[label] = {"cafe_monitor": mine, "haar_baseline": base,
                          "speed_ratio_vs_baseline": round(mine["fps_threaded"] / base["fps_threaded"], 2)}
    results["classifier_faces_per_s_by_batch"] = classifier_throughput(classifier)
    media = REPO.parent / "shared" / "media"
    if media.is_dir():
        results["faces_1280x720"] = multi_face(ours, classifier, media)
    thirty = reencoded(args.clip, tmp, fps=30.0)
    results["camera_30fps_640x360"] = camera_rate(ours, classifier, thirty)
    results["camera_30fps_1280x720"] = camera_rate(ours, classifier, reencoded(thirty, tmp, size=(1280, 720)))
    ours.close()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['machine']} · {results['engine']} ({results['model']}) · {results['clip']} · {results['date']}")
    for label in ("640x360", "1280x720"):
        r = results[label]
        assert isinstance(r, dict)
        for name in ("cafe_monitor", "haar_baseline"):
            m = r[name]
            print(f"{label:9} {name:13} {m['fps_threaded']:6.1f} fps threaded, {m['fps_end_to_end']:6.1f} serial;  "
                  f"decode {m['decode_ms']:5.2f}  detect {m['detect_ms']:5.2f}  "
                  f"preprocess {m['preprocess_ms']:4.2f}  classify {m['classify_ms']:4.2f}  "
                  f"track {m['track_ms']:4.2f} ms  "
                  f"faces/frame {m['faces_per_frame']}")
        print(f"{label:9} ratio (ours / baseline): {r['speed_ratio_vs_baseline']}x")
    print("classifier faces/s by batch:", results["classifier_faces_per_s_by_batch"])
    for n, m in dict(results.get("faces_1280x720", {})).items():  # type: ignore[call-overload]
        print(f"1280x720 {n}: found {m['faces_found']}, {m['fps']} fps, detect {m['detect_ms']} ms, "
              f"preprocess {m['preprocess_ms']} ms, classify {m['classify_ms']} ms, track {m['track_ms']} ms")
    for key in ("camera_30fps_640x360", "camera_30fps_1280x720"):
        m = results[key]
        assert isinstance(m, dict)
        print(f"{key}: input {m['input_fps']} fps, processed {m['processed_fps']} fps, capture-to-result latency "
              f"median {m['latency_ms_median']} ms (p95 {m['latency_ms_p95']}), CPU {m['cpu_cores_used']} cores")


if __name__ == "__main__":
    main()
