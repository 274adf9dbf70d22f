"""Emotion classifier throughput: the shipped models side by side, in the same run.

    python benchmarks/classifier.py [--model a.onnx --model b.onnx ...] [--json docs/classifier.json]

Faces per second by batch size and ONNX Runtime thread count (the monitor itself uses one
thread) for the default model (the int8 ensemble), the single-net int8 model and its float32
source. Each figure is the best of several timed rounds after a warm-up, and each model's
ratio to the last one (the baseline) is taken within the same run, since shared machines
drift between runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from cafe_monitor import preprocessing
from cafe_monitor.classification import int8_variant, load_card
from cafe_monitor.paths import DEFAULT_MODEL, FAST_MODEL


def faces_per_second(model: Path, batch: int, threads: int, seconds: float = 1.5, rounds: int = 5) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = load_card(model).data["input"]["name"]
    faces = np.random.default_rng(0).integers(0, 256, (batch, 48, 48), dtype=np.uint8)
    x = {name: preprocessing.normalise(faces)}
    for _ in range(20):
        session.run(None, x)
    best = 0.0
    for _ in range(rounds):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / rounds:
            session.run(None, x)
            n += 1
        best = max(best, n * batch / (time.perf_counter() - start))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, action="append",
                   help="repeatable; the last is the baseline (default: the shipped models)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    paths = args.model or [DEFAULT_MODEL, int8_variant(FAST_MODEL), FAST_MODEL]
    models = {path.name.removesuffix(".onnx"): path for path in paths}
    baseline = list(models)[-1]
    results: dict[str, dict[str, float]] = {}
    print(f"faces/s (x = ratio to {baseline})")
    print(f"{'batch':>5} {'threads':>7} " + " ".join(f"{name:>28}" for name in models))
    for threads in (1, 2):
        for batch in (1, 4, 16, 64):
            row = {name: faces_per_second(path, batch, threads) for name, path in models.items()}
            results[f"batch{batch}_threads{threads}"] = row
            cells = [f"{fps:>20.0f} ({fps / row[baseline]:4.2f}x)" for fps in row.values()]
            print(f"{batch:>5} {threads:>7} " + " ".join(cells), flush=True)
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__}
        args.json.write_text(json.dumps({"machine": machine, "models": {k: str(v) for k, v in models.items()},
                                         "baseline": baseline, "faces_per_second": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
