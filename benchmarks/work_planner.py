"""What the work planner (issue 24) changes in the score: visits, top labels, mixes.

    python benchmarks/work_planner.py [--json] [--budgets 0 2 1000]

Every frame of each demo clip (assets/demo_emotions.mp4 at 1280x720, the three-customers GIF
at its own size), in order and unpaced, through the pipeline twice or more: every-frame
processing (no planner: detection and classification on every frame, the defaults before
issue 24) and the defaults' work planner (`session.build_planner`), also with other
`[detector] budget_ms` values. For each it prints the share of frames detected, readings
(faces classified) per frame, ms of work per frame, the visits and each visit's top label,
and the largest difference of a visit's emotion mix against every-frame processing (the
largest of the 7 class shares, and L1 over them).

The planner's optional detections ("time left") follow the measured cost of each frame,
so on a loaded machine they are fewer; `--budgets 0` is the floor of what the scene alone
asks for (entering faces, due readings, motion, the cap), the same on any machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from pipeline_options import frames_of  # the sibling script: one way to read a clip

from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.config import Settings
from cafe_monitor.detection import FaceDetector
from cafe_monitor.domain import CLASSES
from cafe_monitor.paths import DEFAULT_MODEL
from cafe_monitor.pipeline import Pipeline
from cafe_monitor.session import build_planner
from cafe_monitor.tracking import Visit, VisitTracker

REPO = Path(__file__).resolve().parents[1]
CLIPS = {"emotions 1280x720": (REPO / "assets" / "demo_emotions.mp4", (1280, 720)),
         "three customers 480x270": (REPO / "assets" / "demo_three_customers.gif", None)}


def run(frames: list[np.ndarray], fps: float, classifier: EmotionClassifier, budget_ms: float | None
        ) -> dict[str, Any]:
    """budget_ms None: every-frame processing; else the default planner with that budget."""
    settings = Settings()
    planner = None
    if budget_ms is not None:
        settings = dataclasses.replace(settings, detector=dataclasses.replace(settings.detector, budget_ms=budget_ms))
        planner = build_planner(settings)
    with FaceDetector(settings.detector.model, settings.detector.min_score) as detector:
        pipe = Pipeline(detector, classifier, tracker=VisitTracker(settings.tracker), planner=planner)
        visits: list[Visit] = []
        detected = readings = 0
        reasons: Counter[str] = Counter()
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            r = pipe.process(f, i / fps, i)
            visits += r.ended_visits
            detected += r.detected
            readings += r.readings
            reasons[r.plan] += 1
        ms = (time.perf_counter() - t0) * 1e3 / len(frames)
        visits += pipe.finish()
    visits.sort(key=lambda v: v.first_seen)
    return {"ms_per_frame": round(ms, 2), "detected_share": round(detected / len(frames), 3),
            "readings_per_frame": round(readings / len(frames), 3), "visits": len(visits),
            "top_labels": [CLASSES[int(v.distribution.argmax())] for v in visits],
            "visit_frames": [v.frames for v in visits], "reasons": dict(reasons),
            "_distributions": [v.distribution for v in visits]}


def compare(base: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    pairs = list(zip(base["_distributions"], other["_distributions"], strict=False))
    out = {k: v for k, v in other.items() if not k.startswith("_")}
    out["max_share_difference"] = round(max((float(np.abs(a - b).max()) for a, b in pairs), default=0.0), 4)
    out["max_mix_difference_l1"] = round(max((float(np.abs(a - b).sum()) for a, b in pairs), default=0.0), 4)
    out["same_visits_and_top_labels"] = (other["visits"] == base["visits"]
                                         and other["top_labels"] == base["top_labels"])
    out["cost_vs_every_frame"] = round(other["ms_per_frame"] / base["ms_per_frame"], 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.add_argument("--budgets", type=float, nargs="+", default=[Settings().detector.budget_ms, 0.0])
    args = p.parse_args()
    classifier = EmotionClassifier(DEFAULT_MODEL)
    out: dict[str, Any] = {}
    for clip, (path, size) in CLIPS.items():
        frames, fps = frames_of(path, size)
        base = run(frames, fps, classifier, None)
        rows = {"every frame": compare(base, base)}
        for budget in args.budgets:
            rows[f"planner, budget_ms={budget:g}"] = compare(base, run(frames, fps, classifier, budget))
        out[clip] = {"frames": len(frames), "fps": fps, "rows": rows}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for clip, data in out.items():
        print(f"{clip} ({data['frames']} frames at {data['fps']:g} fps)")
        for name, r in data["rows"].items():
            print(f"  {name:24} detected {r['detected_share']:6.1%}  readings/frame {r['readings_per_frame']:5.2f}  "
                  f"{r['ms_per_frame']:6.2f} ms/frame ({r['cost_vs_every_frame']}x)  visits {r['visits']} "
                  f"{r['top_labels']}  max share diff {r['max_share_difference']}  L1 {r['max_mix_difference_l1']}"
                  f"  frames {r['visit_frames']}  {r['reasons']}")


if __name__ == "__main__":
    main()
