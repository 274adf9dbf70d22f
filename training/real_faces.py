"""One table of what matters for real customers: models on both real-face sets' held-out people and FER2013.

    python -m training.real_faces models/emotion_cascade.onnx runs/chosen.onnx             # validation people
    python -m training.real_faces --pick runs/ft8.onnx runs/ft10.onnx                     # the rule across runs
    python -m training.real_faces models/emotion_cascade.onnx runs/chosen.onnx --test \\
        --json training/reports/real_faces_ck/table.json                                  # once, after the choice

Per model: wild_dev's people through the live path's crop (the detector's cached box and eye
keypoints on the padded photo, the card's framing), CK+48's people as they are (48x48, the
way `cafe-monitor evaluate --crops` reads them), and FER2013 PublicTest (and PrivateTest with
`--test`). Each gets accuracy, macro recall, the score error, calm faces' score and the score
of each true class (cafe_monitor.evaluation.score_fidelity: the README's formula against the
ideal 50 x (1 + valence)). Every model runs from its card alone (training.evaluate), float32
or int8 alike. Test people are for reporting once a model is chosen, never for choosing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import CLASSES
from cafe_monitor.evaluation import score_fidelity
from training import ckplus, wild_dev
from training.data import default_data_dir, load_for_command
from training.evaluate import onnx_probabilities

Faces = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]


def figures(labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32]) -> dict[str, Any]:
    fid = score_fidelity(labels, probs)
    return {"n": len(labels), "accuracy": round(float((probs.argmax(1) == labels).mean()), 4),
            "macro_recall": fid["macro_recall"], "score_error": fid["score_error"],
            "scores": {c: v["score"] for c, v in fid["score_by_class"].items()}}


def face_sets(people: tuple[str, ...], framing: dict[str, Any], wild_root: Path, ck_root: Path,
              data: Path) -> dict[str, Faces]:
    photos, ck = wild_dev.load(wild_root), ckplus.load(ck_root)
    out: dict[str, Faces] = {}
    for name in people:
        out[f"wild_dev {name}"] = wild_dev.wild_crops(wild_dev.split(photos, name), 1, None, None, framing)
        out[f"CK+48 {name}"] = ckplus.crops(ckplus.split(ck, name))
    splits = load_for_command(data)
    if splits is None:
        raise SystemExit(2)
    for name in ("PublicTest", "PrivateTest") if "test" in people else ("PublicTest",):
        out[f"FER2013 {name}"] = (splits[name].images, splits[name].labels)
    return out


def measure(models: list[Path], people: tuple[str, ...], wild_root: Path, ck_root: Path,
            data: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    sets: dict[str, Faces] | None = None
    framing: dict[str, Any] | None = None
    for model in models:
        pre = json.loads(model.with_suffix(".card.json").read_text())["preprocessing"]
        mine = {k: pre.get(k) for k in wild_dev.FRAMING}
        if sets is None or mine != framing:
            framing, sets = mine, face_sets(people, pre, wild_root, ck_root, data)
        results[str(model)] = {name: figures(y, onnx_probabilities(model, x)) for name, (x, y) in sets.items()}
        print(f"{model}: done", file=sys.stderr)
    return results


def markdown(results: dict[str, dict[str, Any]]) -> str:
    """Rows: model x face set; columns: the figures an owner's score depends on."""
    shown = list(CLASSES)
    lines = ["| model | faces | n | accuracy | macro recall | score error | "
             + " | ".join(shown) + " |", "|---" * (6 + len(shown)) + "|"]
    for model, sets in results.items():
        for name, f in sets.items():
            scores = [f"{f['scores'][c]:.0f}" if c in f["scores"] else "–" for c in shown]
            lines.append(f"| {model} | {name} | {f['n']} | {f['accuracy']:.1%} | "
                         f"{f['macro_recall']:.1%} | {f['score_error']:.1f} | " + " | ".join(scores) + " |")
    return "\n".join(lines)


def pick(exported: list[Path]) -> int:
    """The real_faces rule across runs: each run's export holds the candidate its own run chose
    (and the shared start); the same rule, a total order, then picks among them."""
    from training.finetune import choose, real_faces_key

    cards = {path: json.loads(path.with_suffix(".card.json").read_text())["finetune"] for path in exported}
    start = next(iter(cards.values()))["candidates"][0]
    chosen = [{**card["chosen"], "file": str(path)} for path, card in cards.items()]
    best = choose([{**start, "file": "the start (today's default)"}, *chosen], 0.0, "real_faces")
    for c in [start, *chosen]:
        error, recall = real_faces_key(c)
        print(f"{c.get('file', 'start')}: epoch {c['epoch']} mix {c['mix']}: mean val score error {error}, "
              f"macro recall {-recall:.1%}, PublicTest {c['PublicTest']['accuracy']:.2%}")
    print(f"chosen: {best['file']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, nargs="+", help="ONNX models, each with its card")
    ap.add_argument("--pick", action="store_true",
                    help="the models are exports of training.finetune --choose real_faces: apply the rule across them")
    ap.add_argument("--test", action="store_true", help="also the test people and PrivateTest (report once)")
    ap.add_argument("--wild", type=Path, default=wild_dev.DEFAULT_ROOT)
    ap.add_argument("--ckplus", type=Path, default=ckplus.DEFAULT_ROOT)
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--write-card", action="store_true",
                    help="record each model's own figures on its card (real_faces_held_out)")
    args = ap.parse_args(argv)
    for model in args.models:
        if not model.with_suffix(".card.json").is_file():
            print(f"error: {model} has no card ({model.with_suffix('.card.json').name})", file=sys.stderr)
            return 2
    if args.pick:
        return pick(args.models)
    people = ("val", "test") if args.test else ("val",)
    results = measure(args.models, people, args.wild, args.ckplus, args.data)
    print("ideal scores: " + ", ".join(f"{c} {50 * (1 + v):.0f}" for c, v in _ideal().items()))
    print(markdown(results))
    if args.write_card:
        from datetime import date

        for model, sets in results.items():
            card_path = Path(model).with_suffix(".card.json")
            card = json.loads(card_path.read_text())
            card["real_faces_held_out"] = {
                "measured": date.today().isoformat(), "how": "python -m training.real_faces --test --write-card",
                "split": "by person, training/splits/ (wild_dev through the live path's crop, CK+48 as crops)",
                "figures": sets}
            card_path.write_text(json.dumps(card, indent=2) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _ideal() -> dict[str, float]:
    from cafe_monitor.domain import DEFAULT_VALENCE

    return {c: DEFAULT_VALENCE[c] for c in CLASSES}


if __name__ == "__main__":
    raise SystemExit(main())
