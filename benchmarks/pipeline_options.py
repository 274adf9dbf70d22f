"""What the speed options cost in visits and labels, on the real clips in assets/.

    python benchmarks/pipeline_options.py [--json]

Every frame of each clip (the emotions clip at 640x360 and upscaled to 1280x720, the
three-customers GIF) goes through the pipeline once per variant: the default, detection on
every 2nd/3rd frame (carried frames answered from the last result, or cropped and
classified at the carried boxes), and detection on a smaller or full-size copy of the frame.
For each it prints ms per frame and, against the default on the same clip, the number of
visits, each visit's top label, the largest difference in a visit's emotion mix (L1, 0..2)
and the share of frames whose first face gets the same top label. Frames are fed without
pacing, so ms/frame is the work a frame costs; compare the ratios on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.detection import FaceDetector
from cafe_monitor.domain import CLASSES
from cafe_monitor.paths import DEFAULT_MODEL
from cafe_monitor.pipeline import Pipeline
from cafe_monitor.tracking import Visit, VisitTracker

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Variant:
    name: str
    every_n_frames: int = 1
    classify_carried: bool = False
    max_width: int = 640


VARIANTS = (
    Variant("default (detect every frame, 640 wide)"),
    Variant("detect every 2nd, carry result", every_n_frames=2),
    Variant("detect every 2nd, classify carried", every_n_frames=2, classify_carried=True),
    Variant("detect every 3rd, carry result", every_n_frames=3),
    Variant("detect on 480 wide", max_width=480),
    Variant("detect on 320 wide", max_width=320),
    Variant("detect on full frame", max_width=4096),
)


def frames_of(path: Path, size: tuple[int, int] | None = None) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f if size is None else cv2.resize(f, size, interpolation=cv2.INTER_CUBIC))
    cap.release()
    return frames, fps


def run(variant: Variant, classifier: EmotionClassifier, frames: list[np.ndarray], fps: float
        ) -> tuple[float, list[Visit], list[int | None]]:
    detector = FaceDetector("full_range", max_side=variant.max_width)
    pipe = Pipeline(detector, classifier, tracker=VisitTracker(), every_n_frames=variant.every_n_frames,
                    classify_carried=variant.classify_carried)
    labels: list[int | None] = []
    visits: list[Visit] = []
    t0 = time.perf_counter()
    for i, f in enumerate(frames):
        r = pipe.process(f, i / fps, i)
        visits += r.ended_visits
        labels.append(int(r.faces[0].smoothed.argmax()) if r.faces else None)
    ms = (time.perf_counter() - t0) * 1e3 / len(frames)
    visits += pipe.finish()
    pipe.close()
    return ms, sorted(visits, key=lambda v: v.first_seen), labels


def compare(base: tuple[float, list[Visit], list[int | None]], other: tuple[float, list[Visit], list[int | None]]
            ) -> dict[str, object]:
    ms, visits, labels = other
    pairs = list(zip(base[1], visits, strict=False))
    same = [a == b for a, b in zip(base[2], labels, strict=True) if a is not None]
    return {
        "ms_per_frame": round(ms, 2),
        "speed_vs_default": round(base[0] / ms, 2),
        "visits": len(visits),
        "top_labels": [CLASSES[int(v.distribution.argmax())] for v in visits],
        "max_mix_difference_l1": round(max((float(np.abs(a.distribution - b.distribution).sum())
                                            for a, b in pairs), default=0.0), 3),
        "frames_same_label": round(sum(same) / len(same), 3) if same else 1.0,
        "frames_with_face": sum(x is not None for x in labels),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    classifier = EmotionClassifier(DEFAULT_MODEL)
    clips = {
        "emotions 640x360": frames_of(REPO / "assets" / "demo_emotions.mp4"),
        "emotions 1280x720": frames_of(REPO / "assets" / "demo_emotions.mp4", (1280, 720)),
        "three customers 480x270": frames_of(REPO / "assets" / "demo_three_customers.gif"),
    }
    out: dict[str, dict[str, object]] = {}
    for clip, (frames, fps) in clips.items():
        base = run(VARIANTS[0], classifier, frames, fps)
        out[clip] = {v.name: compare(base, base if v is VARIANTS[0] else run(v, classifier, frames, fps))
                     for v in VARIANTS}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for clip, rows in out.items():
        print(clip)
        for name, r in rows.items():
            print(f"  {name:40} {r['ms_per_frame']:6.2f} ms/frame ({r['speed_vs_default']}x)  visits {r['visits']} "
                  f"{r['top_labels']}  mix diff {r['max_mix_difference_l1']}  same label {r['frames_same_label']}  "
                  f"frames with a face {r['frames_with_face']}")


if __name__ == "__main__":
    main()
