"""An int8 model's answers on other x86-64 CPUs, emulated by QEMU's user mode.

    python -m training.cpu_check --model models/emotion_cascade.int8.onnx --write-card

ONNX Runtime picks its int8 kernels by what the CPU offers: VNNI; AVX2 without VNNI, where
pairs of uint8 x int8 products are summed in int16 (and saturated with 8-bit weights: the
card's 70.24% read 69.10% on such a CPU); SSE4.1 on older PCs. A café's PC may be any of
them, so the card's accuracy has to hold on each, and no one has all three at hand. QEMU's
TCG (Debian's qemu-user) emulates AVX2 but not AVX-512, so `-cpu Haswell-v4` is exactly the
kind of CPU that answered differently, and `-cpu Nehalem` one without AVX at all.

The model runs on FER2013 PrivateTest three ways: under each emulated CPU (split over
processes: emulation is ~50x slower), on this CPU, and with graph optimisations off (the QDQ
graph computed in float: the same on every CPU, the reference). Each CPU's accuracy, its share
of faces given the reference's class and its largest logit gap to this CPU go onto the card
(`cpus_checked`) with `--write-card`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: QEMU's models: Intel Haswell without TSX (AVX2 and FMA, no AVX-512, no VNNI) and Nehalem
#: (SSE4.2, no AVX).
EMULATED_CPUS = ("Haswell-v4", "Nehalem")


def can_emulate() -> bool:
    """qemu-x86_64 is installed and this is an x86-64 machine (its user mode runs x86-64 only)."""
    return shutil.which("qemu-x86_64") is not None and platform.machine() in ("x86_64", "AMD64")


def run_model(model: Path, inputs: Path, out: Path, cpu: str | None = None, timeout: float = 3600) -> None:
    """The model's logits on saved inputs, written to `out`, in a fresh interpreter that imports
    only NumPy and ONNX Runtime, under `qemu-x86_64 -cpu CPU` when a CPU is named."""
    emulate = [shutil.which("qemu-x86_64") or "qemu-x86_64", "-cpu", cpu] if cpu else []
    done = subprocess.run([*emulate, sys.executable, "-m", "training.cpu_check", "--run", str(model), str(inputs),
                           str(out)], capture_output=True, text=True, timeout=timeout,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"{model.name} on {cpu or 'this CPU'} failed: {done.stderr[-2000:]}")


def logits_on(model: Path, inputs: npt.NDArray[np.float32], cpu: str | None = None,
              processes: int = 1) -> npt.NDArray[np.float32]:
    """Logits of normalised faces [N, 1, 48, 48], the work split over `processes` interpreters."""
    with tempfile.TemporaryDirectory() as folder:
        parts = [(Path(folder) / f"in{k}.npy", Path(folder) / f"out{k}.npy", chunk)
                 for k, chunk in enumerate(np.array_split(inputs, max(1, min(processes, len(inputs)))))]
        for path, _, chunk in parts:
            np.save(path, chunk)
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(lambda p: run_model(model, p[0], p[1], cpu), parts))
        return np.concatenate([np.load(out) for _, out, _ in parts]).astype(np.float32)


def _run(model: str, inputs: str, out: str) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    np.save(out, session.run(None, {session.get_inputs()[0].name: np.load(inputs)})[0])


def check(model: Path, faces: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64],
          cpus: tuple[str, ...] = EMULATED_CPUS, processes: int = 0) -> dict[str, Any]:
    from cafe_monitor.preprocessing import normalise
    from training.quantize import int8_logits, this_cpu

    x = normalise(faces)
    n = processes or os.cpu_count() or 1
    here = logits_on(model, x)
    reference = int8_logits(model, faces, optimised=False)

    def figures(logits: npt.NDArray[np.float32]) -> dict[str, Any]:
        return {"accuracy": round(float((logits.argmax(1) == labels).mean()), 4),
                "same_class_as_reference": round(float((logits.argmax(1) == reference.argmax(1)).mean()), 4),
                "max_abs_logit_gap_to_this_cpu": round(float(np.abs(logits - here).max()), 6)}

    name, vnni = this_cpu()
    out: dict[str, Any] = {
        "faces": len(faces), "reference": "the same file with graph optimisations off (QDQ computed in float)",
        "reference_accuracy": round(float((reference.argmax(1) == labels).mean()), 4),
        "cpus": {f"{name} (this machine, {'with' if vnni else 'without'} "
                 "VNNI, native)": figures(here)}}
    version = subprocess.run(["qemu-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    for cpu in cpus:
        t0 = time.time()
        out["cpus"][f"{cpu} emulated ({version})"] = figures(logits_on(model, x, cpu, n))
        print(f"{model.name} on {cpu}: {time.time() - t0:.0f} s", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run"]:  # the inner call, under emulation
        _run(*argv[1:4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="an int8 model with its card")
    ap.add_argument("--data", type=Path, help="FER2013 folder (default: ../shared/data/fer2013)")
    ap.add_argument("--cpu", action="append", help=f"QEMU CPU model, repeatable (default: {', '.join(EMULATED_CPUS)})")
    ap.add_argument("--limit", type=int, default=0, help="only the first N PrivateTest faces")
    ap.add_argument("--write-card", action="store_true", help="record the figures as the card's cpus_checked")
    args = ap.parse_args(argv)
    from training.data import default_data_dir, load_for_command

    if not can_emulate():
        print("error: needs qemu-x86_64 (Debian: apt-get install qemu-user) on an x86-64 machine", file=sys.stderr)
        return 2
    splits = load_for_command(args.data or default_data_dir())
    if splits is None:
        return 2
    test = splits["PrivateTest"]
    n = args.limit or len(test.labels)
    result = {"split": "PrivateTest", **check(args.model, test.images[:n], test.labels[:n],
                                              tuple(args.cpu or EMULATED_CPUS))}
    print(json.dumps(result, indent=2))
    if args.write_card:
        card_path = args.model.with_suffix(".card.json")
        card = json.loads(card_path.read_text())
        card["cpus_checked"] = result
        card_path.write_text(json.dumps(card, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
