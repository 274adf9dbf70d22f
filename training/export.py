"""Export a checkpoint to a single-file ONNX model plus its model card.

    python -m training.export --checkpoint runs/cafenet/best.pt --out models/emotion_cafenet.onnx \
        --report-private
    python -m training.export --checkpoint runs/a/best.pt --checkpoint runs/b/best.pt --out ens.onnx

Several checkpoints make one ensemble model (training.models.Ensemble: the mean of their
probabilities, still read as logits), with each member's recipe on the card. With
`--escalate-below T1 [T2 ...]` (one threshold between each two members) they make a cascade
instead (training.models.Cascade): members are consulted in the given order and a face stops
as soon as its mean probability so far tops the stage's threshold;
`python -m training.ensemble --cascade ...` chooses the thresholds on PublicTest.

The card holds everything needed to run the model without this code: class order,
input name/shape, the preprocessing formula x = (pixel * scale - mean) / std, the output
kind, metrics, training recipe and the file's sha256. `--report-private` adds the
PrivateTest figures: use it once, for the model you ship (it is never used to choose).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
import torch

from cafe_monitor import preprocessing
from cafe_monitor.classification import sha256
from training.data import CLASSES, default_data_dir, load_for_command
from training.evaluate import evaluate, onnx_probabilities
from training.models import Cascade, Ensemble, load_checkpoint

OPSET = 17


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (torch.zeros(1, 1, 48, 48),), str(path), input_names=["faces"], output_names=["logits"],
        dynamic_axes={"faces": {0: "N"}, "logits": {0: "N"}}, opset_version=OPSET, dynamo=False,
    )


def parity(model: torch.nn.Module, path: Path, faces: np.ndarray) -> float:
    """Max |softmax_torch - softmax_onnx| over the given faces."""
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(preprocessing.normalise(faces))), 1).numpy()
    return float(np.abs(ref - onnx_probabilities(path, faces)).max())


def write_card(path: Path, **fields: object) -> dict[str, object]:
    card = {
        "name": path.stem,
        "file": path.name,
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "classes": list(CLASSES),
        "input": {"name": "faces", "shape": ["N", 1, 48, 48], "dtype": "float32",
                  "color": "grayscale (OpenCV BGR2GRAY, BT.601)", "layout": "NCHW"},
        "preprocessing": {"scale": preprocessing.SCALE, "mean": preprocessing.MEAN, "std": preprocessing.STD,
                          "formula": "x = (pixel * scale - mean) / std, pixel in 0..255",
                          "crop_margin": preprocessing.DEFAULT_MARGIN,
                          "crop": "square around the face box, side = longer edge * (1 + 2 * crop_margin), "
                                  "resized to 48x48 (INTER_AREA when shrinking)"},
        "output": {"name": "logits", "kind": "logits", "shape": ["N", 7], "apply": "softmax over axis 1"},
        "opset": OPSET,
        "exported": dt.date.today().isoformat(),
        **fields,
    }
    path.with_suffix(".card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def recipe(checkpoint: Path, history: str | None) -> dict[str, object]:
    """How a checkpoint was trained, for the card, from the run folder's config.json."""
    config = checkpoint.parent / "config.json"
    if not config.is_file():
        return {}
    fields = json.loads(config.read_text())
    for local in ("out", "cache", "data", "device", "limit"):  # one machine's paths and settings
        fields.pop(local, None)
    # Which runs it learnt from or started at, by run folder (their paths were one machine's).
    for source in ("init", "teacher", "teacher_probs"):
        value = fields.pop(source, None)
        runs = [Path(v).parent.name if Path(v).name == "best.pt" else Path(v).name
                for v in (value if isinstance(value, list) else [value] if value else [])]
        if runs:
            fields[source] = runs
    if "teacher" not in fields and "teacher_probs" not in fields:  # not distilled: the defaults said nothing
        fields.pop("kd_weight", None)
        fields.pop("kd_temp", None)
    if history:
        fields["history"] = history
    return {"data": "FER2013 Training split, cleaned (training/data.py); epochs chosen on PublicTest; "
                    "PrivateTest reported once", **fields}


def load(checkpoints: list[Path], history: str | None,
         escalate_below: list[float] | None = None) -> tuple[torch.nn.Module, dict[str, object]]:
    """One checkpoint as itself, several as an Ensemble (a Cascade given `escalate_below`);
    with the card fields describing them."""
    loaded = [load_checkpoint(c) for c in checkpoints]
    described = [{"architecture": state["arch"], "parameters": sum(p.numel() for p in model.parameters()),
                  "checkpoint_epoch": state.get("epoch"), "ema_weights": state.get("ema"),
                  **({"training": r} if (r := recipe(c, history)) else {})}
                 for c, (model, state) in zip(checkpoints, loaded, strict=True)]
    if len(loaded) == 1:
        return loaded[0][0], described[0]
    members = [model for model, _ in loaded]
    if escalate_below is None:
        kind, ensemble = "ensemble", Ensemble(members)
        combine = "mean of the members' softmax probabilities; output = its log"
    else:
        kind, ensemble = "cascade", Cascade(members, escalate_below)
        combine = ("members consulted in order; after member k+1 a face whose mean softmax probability so far "
                   "has a top value >= escalate_below[k] (graph initializer 'escalate_below_<k>') keeps that mean, "
                   "the others go on; output = log of the mean where each face stopped")
    return ensemble.eval(), {
        "architecture": f"{kind} of " + " + ".join(str(d["architecture"]) for d in described),
        "parameters": sum(p.numel() for p in ensemble.parameters()),
        "ensemble": {"combine": combine, "members": described,
                     **({"escalate_below": escalate_below} if escalate_below is not None else {})}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, action="append", required=True,
                   help="repeatable: several make one ensemble model")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--report-private", action="store_true", help="also measure PrivateTest (final model only)")
    p.add_argument("--skip-eval", action="store_true", help="no FER2013 metrics (smoke tests)")
    p.add_argument("--history", help="how the weights came to be, for the card (e.g. earlier runs they continue)")
    p.add_argument("--escalate-below", type=float, nargs="+", metavar="T",
                   help="a cascade: one threshold between each two checkpoints (a face stops at the first "
                        "stage where its mean top probability >= the stage's T)")
    args = p.parse_args(argv)
    thresholds = args.escalate_below
    if thresholds is not None and (len(thresholds) != len(args.checkpoint) - 1
                                   or not all(0 < t <= 1 for t in thresholds)):
        p.error("--escalate-below takes one threshold in (0, 1] between each two --checkpoint")
    model, fields = load(args.checkpoint, args.history, args.escalate_below)
    export_onnx(model, args.out)
    write_card(args.out, **fields)  # the evaluation below runs the model from its card
    probe = np.random.default_rng(0).integers(0, 256, size=(64, 48, 48), dtype=np.uint8)
    if not args.skip_eval:
        splits = load_for_command(args.data)
        if splits is None:
            return 2
        probe = splits["PublicTest"].images[:512]
        metrics: dict[str, dict[str, dict[str, object]]] = {}
        for name in ["PublicTest"] + (["PrivateTest"] if args.report_private else []):
            metrics[name] = {mode: {k: v for k, v in m.items() if k != "confusion"}
                             for mode, m in evaluate(args.out, splits[name].images, splits[name].labels).items()}
        fields["metrics"] = metrics
        fields["runtime_uses"] = "single_crop"
    fields["parity_max_abs_diff"] = parity(model, args.out, probe)
    card = write_card(args.out, **fields)
    print(json.dumps({k: card[k] for k in ("file", "sha256", "bytes", "parity_max_abs_diff")}
                     | ({"metrics": card["metrics"]} if "metrics" in card else {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
