"""Evaluate a checkpoint or an ONNX model on PublicTest / PrivateTest.

    python -m training.evaluate --checkpoint runs/cafenet/best.pt --split PublicTest
    python -m training.evaluate --onnx models/emotion_cafenet.onnx --split PrivateTest --out runs/eval

Reports accuracy overall and per class, single crop and with flip TTA separately, and
writes a confusion-matrix PNG. The ONNX path reads only the model card for the input
contract, so it checks that the card alone is enough to run the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from training.data import CLASSES, SPLITS, default_data_dir, load_for_command

if TYPE_CHECKING:
    from torch import nn


def confusion(labels: npt.NDArray[np.int64], preds: npt.NDArray[np.int64],
              k: int = len(CLASSES)) -> npt.NDArray[np.int64]:
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (labels, preds), 1)
    return m


def metrics(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.floating[Any]]) -> dict[str, Any]:
    preds = probs.argmax(1)
    cm = confusion(labels, preds)
    recall = {c: round(float(cm[i, i] / max(cm[i].sum(), 1)), 4) for i, c in enumerate(CLASSES)}
    return {"accuracy": round(float((preds == labels).mean()), 4), "per_class_recall": recall,
            "n": len(labels), "confusion": cm.tolist()}


def score_figures(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.floating[Any]]) -> dict[str, Any]:
    """What the owner would see, for choosing models on real faces: accuracy, macro recall, the
    score error and the score of calm faces (cafe_monitor.evaluation.score_fidelity)."""
    from cafe_monitor.evaluation import score_fidelity

    fid = score_fidelity(labels, probs)
    return {"accuracy": round(float((probs.argmax(1) == labels).mean()), 4), "macro_recall": fid["macro_recall"],
            "score_error": fid["score_error"], "neutral_score": fid["score_by_class"].get("neutral", {}).get("score")}


def plot_confusion(cm: npt.NDArray[np.int64] | list[list[int]], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(cm, dtype=np.float64)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(len(CLASSES)), CLASSES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(CLASSES)):
        for j in range(len(CLASSES)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(m[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def onnx_probabilities(model: Path, faces: npt.NDArray[np.uint8], flip: bool = False) -> npt.NDArray[np.float32]:
    """Run an ONNX model using only what its card says (input name, constants, output kind)."""
    import onnxruntime as ort

    card = json.loads(model.with_suffix(".card.json").read_text())
    pre = card["preprocessing"]
    x = (faces.astype(np.float32).reshape(-1, 1, 48, 48) * pre["scale"] - pre["mean"]) / pre["std"]
    if flip:
        x = x[..., ::-1].copy()
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out = np.concatenate([sess.run(None, {card["input"]["name"]: x[i : i + 512].astype(np.float32)})[0]
                          for i in range(0, len(x), 512)])
    if card["output"]["kind"] == "logits":
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
    return out.astype(np.float32)


def model_probabilities(model: nn.Module, faces: npt.NDArray[np.uint8], flip: bool = False) -> npt.NDArray[np.float32]:
    """A loaded torch model (training.models.load_checkpoint) on the training device."""
    import torch

    from cafe_monitor.preprocessing import normalise
    from training.train import pick_device, predict

    device = pick_device("auto")
    model = model.to(device).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return predict(model, torch.from_numpy(normalise(faces)), device, flip_tta=flip).numpy()


def torch_probabilities(checkpoint: Path, faces: npt.NDArray[np.uint8], flip: bool = False) -> npt.NDArray[np.float32]:
    from training.models import load_checkpoint

    return model_probabilities(load_checkpoint(checkpoint)[0], faces, flip)


def probabilities(source: Path, faces: npt.NDArray[np.uint8], flip: bool = False) -> npt.NDArray[np.float32]:
    """An ONNX model (from its card alone) or a training checkpoint, by the file's suffix."""
    run = onnx_probabilities if source.suffix == ".onnx" else torch_probabilities
    return run(source, faces, flip)


def evaluate(source: Path, faces: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64]) -> dict[str, dict[str, Any]]:
    single = probabilities(source, faces)
    flipped = probabilities(source, faces, flip=True)
    return {"single_crop": metrics(labels, single), "flip_tta": metrics(labels, (single + flipped) / 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--onnx", type=Path)
    p.add_argument("--split", choices=SPLITS[1:], action="append", help="repeatable; default PublicTest")
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, help="folder for confusion-matrix PNGs and metrics.json")
    args = p.parse_args(argv)
    splits = load_for_command(args.data)
    if splits is None:
        return 2
    source = args.onnx or args.checkpoint
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name in args.split or ["PublicTest"]:
        s = splits[name]
        results[name] = evaluate(source, s.images, s.labels)
        if args.out:
            for mode, m in results[name].items():
                plot_confusion(m["confusion"], f"{source.stem} on {name} ({mode}): {m['accuracy']:.1%}",
                               args.out / f"confusion_{name}_{mode}.png")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "metrics.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: {m: v[m]["accuracy"] for m in v} for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
