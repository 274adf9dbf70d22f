"""Emotion classifier throughput: the float32 model against its int8 twin, same run.

    python benchmarks/classifier.py [--model models/emotion_cafenet.onnx] [--json docs/classifier.json]

Faces per second by batch size and ONNX Runtime thread count (the monitor itself uses one
thread). Each figure is the best of several timed rounds after a warm-up, and the int8/float32
ratio is taken within the same run, since shared machines drift between runs.
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
from cafe_monitor.paths import DEFAULT_MODEL


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
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    models = {"float32": args.model, "int8": int8_variant(args.model)}
    results: dict[str, dict[str, float]] = {}
    print(f"{'batch':>5} {'threads':>7} {'float32':>9} {'int8':>9} {'ratio':>6}   (faces/s)")
    for threads in (1, 2):
        for batch in (1, 4, 16, 64):
            row = {kind: faces_per_second(path, batch, threads) for kind, path in models.items()}
            row["ratio"] = row["int8"] / row["float32"]
            results[f"batch{batch}_threads{threads}"] = row
            print(f"{batch:>5} {threads:>7} {row['float32']:>9.0f} {row['int8']:>9.0f} {row['ratio']:>5.2f}x",
                  flush=True)
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__}
        args.json.write_text(json.dumps({"machine": machine, "models": {k: str(v) for k, v in models.items()},
                                         "faces_per_second": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
