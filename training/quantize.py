"""Quantise an exported model to int8 for CPUs, with its own card and measured accuracy.

    python -m training.quantize --onnx models/emotion_cafenet.onnx --report-private

Static QDQ quantisation (ONNX Runtime's tooling: per-channel int8 weights, uint8
activations) calibrated on cleaned Training faces only. On this team's 2-core AVX-512
machine it runs the same network 2.8x faster than float32, which is what lets a model big
enough for 70%+ meet the 2,000 faces/s budget; the card records the accuracy it keeps.
GPUs keep the float32 file (execution providers for CUDA run QDQ graphs poorly). Weights use
7 of the 8 bits (`REDUCED_WEIGHT_MAX`) so that CPUs with and without VNNI give the same answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from cafe_monitor import preprocessing
from training.data import default_data_dir, load_for_command
from training.evaluate import evaluate, onnx_probabilities
from training.export import write_card
from training.models import THRESHOLD_PREFIX

#: Where torch.onnx puts the nodes of an Ensemble's or Cascade's member nets.
MEMBER_PREFIX = "/members."


def int8_path(model: Path) -> Path:
    return model.with_name(model.stem + ".int8.onnx")


#: Weights in 7 bits (-64..64): ONNX Runtime's u8s8 kernels on x86-64 CPUs without VNNI (AVX2
#: only) add pairs of uint8 x int8 products in int16, and 255 x 127 x 2 overflows it; with
#: |w| <= 64, 255 x 64 x 2 = 32,640 fits, so every CPU computes the same answers.
REDUCED_WEIGHT_MAX = 64


def quantize(model: Path, out: Path, calibration: npt.NDArray[np.uint8], method: str = "percentile",
             reduce_range: bool = True) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = json.loads(model.with_suffix(".card.json").read_text())["input"]["name"]

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(preprocessing.normalise(calibration), max(1, len(calibration) // 64)))

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    thresholds = read_thresholds(model)
    with tempfile.TemporaryDirectory() as tmp:
        source, prepared = model, Path(tmp) / "prepared.onnx"
        if thresholds is not None:
            # Calibrate a cascade with every face escalated: each member then sees all the
            # calibration faces (the escalated share varies per batch, which calibration
            # cannot stack), and its ranges are those of the full ensemble.
            graph, source = onnx.load(str(model)), Path(tmp) / "escalate_all.onnx"
            set_thresholds(graph, float("inf"))
            onnx.save(graph, str(source))
        # Folds BatchNorm, infers shapes. Not for a cascade: its optimiser merges initializers
        # of equal value, which loses the thresholds' names (the exporter has folded BatchNorm
        # already), and its data-dependent batch (NonZero) defeats symbolic shape inference.
        cascade = thresholds is not None
        quant_pre_process(str(source), str(prepared), skip_optimization=cascade, skip_symbolic_shape=cascade)
        # An ensemble's head (softmax, mean, a cascade's selection) stays float: probabilities
        # on a uint8 grid of 1/255 lose the small differences the average is there to keep.
        nodes = onnx.load(str(prepared)).graph.node
        members = any(n.name.startswith(MEMBER_PREFIX) for n in nodes)
        head = [n.name for n in nodes if members and not n.name.startswith(MEMBER_PREFIX)]
        quantize_static(str(prepared), str(out), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method], nodes_to_exclude=head, reduce_range=reduce_range)
    if thresholds is not None:
        graph = onnx.load(str(out))
        set_thresholds(graph, thresholds)
        onnx.save(graph, str(out))
        if read_thresholds(out) != thresholds:
            raise RuntimeError(f"the cascade thresholds of {out} did not survive quantisation")


def weight_range(model: onnx.ModelProto) -> int:
    """Largest |int8 weight| in a quantised graph (127 = full range, <= 64 = safe on every CPU)."""
    return max((int(np.abs(onnx.numpy_helper.to_array(t).astype(np.int32)).max()) for t in model.graph.initializer
                if t.data_type == onnx.TensorProto.INT8 and t.dims), default=0)


def int8_logits(model: Path, faces: npt.NDArray[np.uint8], optimised: bool = True) -> npt.NDArray[np.float32]:
    """A quantised model's output on the CPU provider: with graph optimisations (this CPU's int8
    kernels) or without (the QDQ graph computed in float, the same on every CPU: the reference)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not optimised:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: preprocessing.normalise(faces[i : i + 256])})[0]
                           for i in range(0, len(faces), 256)]).astype(np.float32)


def this_cpu() -> tuple[str, bool]:
    """This machine's CPU model name and whether it has VNNI (the int8 kernels differ by it)."""
    import platform

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    names = [line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("model name")]
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    return names[0] if names else platform.processor() or platform.machine(), vnni


def cpu_check(model: Path, faces: npt.NDArray[np.uint8]) -> dict[str, object]:
    """This CPU's int8 kernels against the CPU-independent reference: the share of faces given
    the same class, with the CPU it ran on."""
    same = int8_logits(model, faces).argmax(1) == int8_logits(model, faces, optimised=False).argmax(1)
    name, vnni = this_cpu()
    return {"cpu": name, "vnni": vnni, "faces": len(faces), "same_class_as_reference": round(float(same.mean()), 4),
            "reference": "the same file with graph optimisations off (QDQ computed in float: CPU-independent)"}


def read_thresholds(model: Path) -> list[float] | None:
    """A cascade's thresholds, stage by stage, or None for any other model."""
    found = {t.name: float(onnx.numpy_helper.to_array(t)) for t in onnx.load(str(model)).graph.initializer
             if t.name.startswith(THRESHOLD_PREFIX)}
    return [found[f"{THRESHOLD_PREFIX}{k}"] for k in range(len(found))] if found else None


def set_thresholds(graph: onnx.ModelProto, value: float | list[float]) -> bool:
    """Set a cascade's thresholds in place (one value: every stage); False if it has none."""
    found = False
    for tensor in graph.graph.initializer:
        if tensor.name.startswith(THRESHOLD_PREFIX):
            stage = int(tensor.name.removeprefix(THRESHOLD_PREFIX))
            t = value[stage] if isinstance(value, list) else value
            tensor.CopyFrom(onnx.numpy_helper.from_array(np.array(t, dtype=np.float32), tensor.name))
            found = True
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, help="the float32 model (with its card)")
    p.add_argument("--out", type=Path, help="default: <model>.int8.onnx beside it")
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--calibration-faces", type=int, default=2048)
    p.add_argument("--method", choices=("minmax", "percentile", "entropy"), default="percentile",
                   help="calibration; percentile kept PublicTest within 0.03 points of float32, minmax 0.31")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full-range", action="store_true",
                   help="8-bit weights (-127..127): answers then differ on CPUs without VNNI; default 7-bit")
    p.add_argument("--report-private", action="store_true", help="also measure PrivateTest (final model only)")
    args = p.parse_args(argv)
    out = args.out or int8_path(args.onnx)
    try:
        source = json.loads(args.onnx.with_suffix(".card.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"error: model card of {args.onnx}: {exc}", file=sys.stderr)
        return 2
    splits = load_for_command(args.data)
    if splits is None:
        return 2
    train = splits["Training"].images
    pick = np.random.default_rng(args.seed).choice(len(train), min(args.calibration_faces, len(train)), replace=False)
    quantize(args.onnx, out, train[np.sort(pick)], args.method, reduce_range=not args.full_range)
    keep = {k: v for k, v in source.items()
            if k not in ("name", "file", "sha256", "bytes", "exported", "metrics", "runtime_uses")}
    fields: dict[str, Any] = {
        **keep,
        "quantization": {"from": source["file"], "from_sha256": source["sha256"], "format": "QDQ",
                         "weights": "int8 per channel" + ("" if args.full_range else
                                                           ", 7-bit range (reduce_range: |w| <= 64)"),
                         "max_abs_weight": weight_range(onnx.load(str(out))),
                         "activations": "uint8 per tensor",
                         "calibration": f"{len(pick)} cleaned Training faces (seed {args.seed}), {args.method}",
                         "tool": "onnxruntime.quantization.quantize_static",
                         # so an int8-only release still says what its float32 source measured
                         "from_accuracy": {split: {mode: m["accuracy"] for mode, m in modes.items()}
                                           for split, modes in source.get("metrics", {}).items()}},
    }
    write_card(out, **fields)  # the evaluation below runs the model from its card
    metrics: dict[str, dict[str, dict[str, object]]] = {}
    for name in ["PublicTest"] + (["PrivateTest"] if args.report_private else []):
        metrics[name] = {mode: {k: v for k, v in m.items() if k != "confusion"}
                         for mode, m in evaluate(out, splits[name].images, splits[name].labels).items()}
    probe = splits["PublicTest"].images[:512]
    same = onnx_probabilities(out, probe).argmax(1) == onnx_probabilities(args.onnx, probe).argmax(1)
    agreement = float(same.mean())
    card = write_card(out, **fields, metrics=metrics, runtime_uses="single_crop",
                      float32_top1_agreement=round(agreement, 4),
                      cpu_check=cpu_check(out, splits["PublicTest"].images[:1200]))
    print(json.dumps({k: card[k] for k in ("file", "sha256", "bytes", "float32_top1_agreement", "metrics")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
