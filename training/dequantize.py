"""Recover a float32 graph from an int8 (QDQ) model: weights = int8 x scale, activations float.

    python -m training.dequantize --onnx models/emotion_cascade.int8.onnx --out runs/cascade_float.onnx

The cascade's member nets were trained on a GPU lease whose float checkpoints are gone; only
the int8 release survived. Each quantised weight is an int8 initializer feeding a
DequantizeLinear with its per-channel scale, so float weights of 8-bit precision can be
read back exactly, and the QuantizeLinear/DequantizeLinear pairs on activations dropped.
Where an activation was quantised to uint8 with zero point 0, the quantiser had dropped a Relu
it made redundant; a Relu stands there again. The result is the float32 model the GPU runs
and the starting point for refitting its heads (training/adapt.py); its card is the int8
card without the quantisation block.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def dequantize(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    rename: dict[str, str] = {}  # DequantizeLinear output -> the float tensor it stands for
    new_inits: list[onnx.TensorProto] = []
    keep = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            q = numpy_helper.to_array(inits[node.input[0]]).astype(np.float64)
            scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
            zero = (numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
                    if len(node.input) > 2 and node.input[2] else np.zeros_like(scale))
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim == 1 and scale.size > 1:
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            name = node.output[0]
            new_inits.append(numpy_helper.from_array(((q - zero) * scale).astype(np.float32), name))
            continue
        if node.op_type == "QuantizeLinear":
            point = inits.get(node.input[2]) if len(node.input) > 2 else None
            if point is not None and point.data_type == onnx.TensorProto.UINT8 and \
                    not numpy_helper.to_array(point).any():
                # uint8 with zero point 0 clamps at 0: the quantiser dropped the Relu it made redundant
                relu = node.output[0] + "_relu"
                keep.append(onnx.helper.make_node("Relu", [node.input[0]], [relu], name=relu))
                rename[node.output[0]] = relu
            else:
                rename[node.output[0]] = node.input[0]
            continue
        if node.op_type == "DequantizeLinear" and node.input[0] in rename:
            rename[node.output[0]] = rename[node.input[0]]
            continue
        keep.append(node)
    outputs = {o.name for o in graph.output}
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    for out in graph.output:
        if out.name in rename:  # a graph output that was quantised: keep its name
            keep.append(onnx.helper.make_node("Identity", [rename[out.name]], [out.name]))
    del graph.node[:]
    graph.node.extend(keep)
    used = {n for node in keep for n in node.input} | outputs
    kept_inits = [t for t in graph.initializer if t.name in used] + [t for t in new_inits if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    from training.export import write_card

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, required=True, help="an int8 model with its card")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        card = json.loads(args.onnx.with_suffix(".card.json").read_text())
        model = onnx.load(str(args.onnx))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.onnx} or its card: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(dequantize(model), str(args.out))
    keep = {k: v for k, v in card.items()
            if k not in ("name", "file", "sha256", "bytes", "exported", "metrics", "runtime_uses", "quantization",
                         "float32_top1_agreement")}
    write_card(args.out, **keep, recovered_from={"file": card["file"], "sha256": card["sha256"],
                                                 "how": "python -m training.dequantize (int8 weights x scale)"})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
