"""Choose the live crop's margin, vertical shift and eye alignment on real faces.

    python -m training.framing --model models/emotion_cascade.int8.onnx [--split val]

MediaPipe's boxes are framed differently from FER2013's crops (tighter, centred lower on the
face), so the same face reads differently live than in training. This runs the validation
people of wild_dev through the detector (padded, as a camera frame would show them), cuts
each face with every framing in the grid, and scores each framing with the given model:
accuracy, macro recall and score error among the faces found. The winner is the framing
with the best mean of accuracy and macro recall (the class mix of wild_dev is not a
café's, so accuracy alone would favour happy and neutral), and `--card` writes it onto a
model's card (`preprocessing.crop_margin`, `crop_shift`, `align_eyes`), which the runtime reads.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.evaluation import pad_photo, read_image
from cafe_monitor.paths import resolve_model
from cafe_monitor.preprocessing import crop_face
from training import wild_dev
from training.evaluate import score_figures

MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SHIFTS = (-0.1, -0.05, 0.0, 0.05, 0.1)


def sweep(classifier: EmotionClassifier, photos: list[wild_dev.Photo],
          faces: dict[Path, wild_dev.Found | None]) -> list[dict[str, Any]]:
    seen = [p for p in photos if faces[p.path] is not None]
    padded = {p.path: pad_photo(image, wild_dev.PAD) for p in seen if (image := read_image(p.path)) is not None}
    seen = [p for p in seen if p.path in padded]
    labels = np.array([p.label for p in seen])
    rows = []
    for margin, shift, align in itertools.product(MARGINS, SHIFTS, (False, True)):
        crops = []
        for p in seen:
            found = faces[p.path]
            assert found is not None
            crops.append(crop_face(padded[p.path], found.box, margin, shift=shift,
                                   eyes=found.eyes if align else None))
        probs = classifier.classify(np.stack(crops))
        rows.append({"margin": margin, "shift": shift, "align_eyes": align, "faces": len(seen),
                     **score_figures(labels, probs)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="emotion_cascade.int8.onnx")
    ap.add_argument("--root", type=Path, default=wild_dev.DEFAULT_ROOT)
    ap.add_argument("--split", default="val", choices=wild_dev.SPLIT_NAMES)
    ap.add_argument("--out", type=Path, help="write the table as JSON here")
    ap.add_argument("--card", type=Path, help="write the winning framing onto this model's card")
    args = ap.parse_args(argv)
    photos = wild_dev.split(wild_dev.load(args.root), args.split)
    rows = sweep(EmotionClassifier(resolve_model(args.model)), photos, wild_dev.detect(photos))
    rows.sort(key=lambda r: -(r["macro_recall"] + r["accuracy"]))
    print(f"{'margin':>6} {'shift':>6} {'align':>5} {'acc':>6} {'macro':>6} {'s_err':>6} {'neutral':>7}")
    for r in rows:
        print(f"{r['margin']:6.2f} {r['shift']:6.2f} {r['align_eyes']!s:>5} {r['accuracy']:6.1%} "
              f"{r['macro_recall']:6.1%} {r['score_error']:6.1f} {r['neutral_score']:7.1f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": str(args.model), "split": args.split, "rows": rows}, indent=1))
    if args.card:
        best = rows[0]
        card_file = args.card.with_suffix(".card.json")
        card = json.loads(card_file.read_text())
        card["preprocessing"].update(crop_margin=best["margin"], crop_shift=best["shift"],
                                     align_eyes=best["align_eyes"],
                                     crop="square around the face box, side = longer edge * (1 + 2 * crop_margin), "
                                          "centre moved down by crop_shift x side (negative: up), turned upright "
                                          "from the eye keypoints when align_eyes, resized to 48x48")
        card["framing"] = {"chosen_by": "python -m training.framing", "split": f"wild_dev {args.split} people",
                           "rule": "best mean of accuracy and macro recall", **best}
        card_file.write_text(json.dumps(card, indent=2) + "\n")
        print(f"framing written to {card_file}: margin {best['margin']}, shift {best['shift']}, "
              f"align_eyes {best['align_eyes']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
