"""Emotion classifier throughput: the shipped models side by side, in the same run.

    python benchmarks/classifier.py [--model a.onnx --model b.onnx ...] [--json docs/classifier.json]

Faces per second by batch size and ONNX Runtime thread count (the monitor itself uses one
thread) for the default model on a CPU (the cascade's int8 twin), its worst case (every face
escalated, i.e. the whole three-net ensemble), the single-net int8 model and its float32
source. A cascade's speed depends on the faces (sure faces stop at its first net), so the
faces are real ones, FER2013 PublicTest, when the data folder is there (random noise
otherwise, which says little about a cascade), and the share escalated is printed. The
models take turns in every round, and each figure is the best of its rounds, so drift of a
shared machine hits them all alike; ratios are to the last model (the baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort

from cafe_monitor import preprocessing
from cafe_monitor.classification import int8_variant, load_card
from cafe_monitor.paths import DEFAULT_MODEL, FAST_MODEL

REPO = Path(__file__).resolve().parents[1]


def with_threshold(model: Path, value: float) -> bytes | None:
    """The model's graph with every cascade threshold set to `value`; None if not a cascade."""
    sys.path.insert(0, str(REPO))  # training/ sits beside the package, not installed with it
    from training.quantize import set_thresholds

    graph = onnx.load(str(model))
    return graph.SerializeToString() if set_thresholds(graph, value) else None


def session(model: Path | bytes, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def escalated_share(model: Path, x: npt.NDArray[np.float32]) -> float | None:
    """How many faces a cascade sends past its first net: those whose answer changes when
    no face may escalate (thresholds 0)."""
    alone = with_threshold(model, 0.0)
    if alone is None:
        return None
    feed = {load_card(model).data["input"]["name"]: x}
    full, first = session(model, 2).run(None, feed)[0], session(alone, 2).run(None, feed)[0]
    return float((np.abs(full - first).max(1) > 1e-6).mean())


def benchmark_faces() -> tuple[npt.NDArray[np.uint8], str]:
    sys.path.insert(0, str(REPO))
    from training.data import default_data_dir, load_fer2013

    folder = default_data_dir()
    if folder.is_dir():
        splits, _ = load_fer2013(folder)
        return splits["PublicTest"].images, "FER2013 PublicTest faces"
    return np.random.default_rng(0).integers(0, 256, (2048, 48, 48), dtype=np.uint8), "random noise faces"


def race(models: dict[str, Path | bytes], x: npt.NDArray[np.float32], input_names: dict[str, str], batch: int,
         threads: int, rounds: int = 6, seconds: float = 0.4) -> dict[str, float]:
    """Faces per second of each model, best of `rounds` turns taken in alternation."""
    sessions = {name: session(m, threads) for name, m in models.items()}
    batches = [x[i : i + batch] for i in range(0, len(x) - batch + 1, batch)]
    for name, s in sessions.items():
        for b in batches[:10]:
            s.run(None, {input_names[name]: b})
    best = dict.fromkeys(models, 0.0)
    for _ in range(rounds):
        for name, s in sessions.items():
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                s.run(None, {input_names[name]: batches[n % len(batches)]})
                n += 1
            best[name] = max(best[name], n * batch / (time.perf_counter() - start))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append",
                   help="repeatable; the last is the baseline (default: the shipped models)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    paths = args.model or [int8_variant(DEFAULT_MODEL), int8_variant(FAST_MODEL), FAST_MODEL]
    models: dict[str, Path | bytes] = {}
    input_names: dict[str, str] = {}
    for path in paths:
        name = path.name.removesuffix(".onnx")
        models[name], input_names[name] = path, load_card(path).data["input"]["name"]
        worst = with_threshold(path, 2.0)
        if worst is not None:  # the same graph with every face escalated: the cascade's worst case
            models[f"{name} (all escalated)"], input_names[f"{name} (all escalated)"] = worst, input_names[name]
    faces, kind = benchmark_faces()
    x = preprocessing.normalise(faces)
    baseline = list(models)[-1]
    shares = {path.name: share for path in paths if (share := escalated_share(path, x)) is not None}
    print(f"faces: {kind}" + "".join(f"; {n} escalates {s:.1%} of them" for n, s in shares.items()))
    print(f"faces/s (x = ratio to {baseline})")
    print(f"{'batch':>5} {'threads':>7} " + " ".join(f"{name:>28}" for name in models))
    results: dict[str, dict[str, float]] = {}
    for threads in (1, 2):
        for batch in (1, 4, 16, 64):
            row = race(models, x, input_names, batch, threads)
            results[f"batch{batch}_threads{threads}"] = row
            cells = [f"{fps:>20.0f} ({fps / row[baseline]:4.2f}x)" for fps in row.values()]
            print(f"{batch:>5} {threads:>7} " + " ".join(cells), flush=True)
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(), "cores": len(os.sched_getaffinity(0)),
                   "onnxruntime": ort.__version__}
        args.json.write_text(json.dumps({"machine": machine, "faces": kind, "escalated": shares,
                                         "models": {k: str(v) if isinstance(v, Path) else "in memory"
                                                    for k, v in models.items()},
                                         "baseline": baseline, "faces_per_second": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
