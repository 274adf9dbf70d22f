"""`cafe-monitor evaluate`: accuracy on a folder of labelled photos, through exactly the
live path (MediaPipe detection, the shared crop/48x48 preprocessing, the ONNX model).

DIR holds one sub-folder per emotion (any subset of the 7 names), or is a CSV file whose
`file` and `label` columns name each photo (relative to the CSV's folder) and its emotion,
as assets/faces/labels.csv does for the stills the tests hold the shipped model to. With `--crops` each
photo is taken as an already-cropped face: detection is skipped and the whole image
goes through the same crop function. A photo without a detected face counts as a miss
overall; unreadable files are listed and skipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.domain import CLASSES, DEFAULT_VALENCE, Box
from cafe_monitor.errors import UserError
from cafe_monitor.paths import resolve_model
from cafe_monitor.preprocessing import crop_face

if TYPE_CHECKING:  # the detector (MediaPipe) loads only where photos are not crops
    from cafe_monitor.detection import Detection, FaceDetector

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class Evaluation:
    files: list[tuple[Path, int]] = field(default_factory=list)  # (file, true class)
    predictions: dict[Path, np.ndarray] = field(default_factory=dict)
    no_face: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)

    def summary(self, root: Path) -> dict[str, Any]:
        root = photo_folder(root)
        labels = {f: y for f, y in self.files}
        scored = [f for f, _ in self.files if f in self.predictions]
        cm = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)
        for f in scored:
            cm[labels[f], int(np.argmax(self.predictions[f]))] += 1
        correct = int(np.trace(cm))
        read = len(self.files)
        per_class = {}
        for i, c in enumerate(CLASSES):
            n = sum(1 for _, y in self.files if y == i)
            if n == 0 and cm[:, i].sum() == 0:
                continue
            per_class[c] = {"n": n, "recall": round(cm[i, i] / n, 4) if n else None,
                            "precision": round(cm[i, i] / cm[:, i].sum(), 4) if cm[:, i].sum() else None}
        fidelity = score_fidelity(np.array([labels[f] for f in scored], dtype=int),
                                  np.array([self.predictions[f] for f in scored]).reshape(-1, len(CLASSES)))
        return {
            "n": read,
            "detected": len(scored),
            "accuracy": round(correct / read, 4) if read else None,
            "accuracy_detected": round(correct / len(scored), 4) if scored else None,
            **fidelity,
            "per_class": per_class,
            "confusion": {"classes": list(CLASSES), "matrix": cm.tolist()},
            "misclassified": [
                {"file": str(f.relative_to(root)), "true": CLASSES[labels[f]],
                 "predicted": CLASSES[int(np.argmax(self.predictions[f]))],
                 "distribution": {c: round(float(p), 4) for c, p in zip(CLASSES, self.predictions[f], strict=True)}}
                for f in scored if int(np.argmax(self.predictions[f])) != labels[f]],
            "no_face": [str(f.relative_to(root)) for f in self.no_face],
            "unreadable": [str(f.relative_to(root)) for f in self.unreadable],
        }


def score_fidelity(labels: np.ndarray, probabilities: np.ndarray,
                   valence: dict[str, float] = DEFAULT_VALENCE) -> dict[str, Any]:
    """How far the README's score formula lands from the truth, class by class.

    Accuracy hides what the owner sees: a model that reads calm faces as slightly sad drags
    the score down without many top-1 errors. For the photos of each true class, the score is
    50 x (1 + mean valence of their predicted distributions); its ideal is 50 x (1 + that
    class's valence). `score_error` is the mean absolute gap over the classes present, and
    `macro_recall` the mean recall over them (the class mix of a photo set is not a café's).
    """
    weights = np.array([valence[c] for c in CLASSES])
    by_class: dict[str, dict[str, float | int]] = {}
    recalls = []
    for i, c in enumerate(CLASSES):
        mine = probabilities[labels == i]
        if len(mine) == 0:
            continue
        by_class[c] = {"n": len(mine), "score": round(float(50 * (1 + (mine @ weights).mean())), 2),
                       "ideal": round(float(50 * (1 + weights[i])), 2)}
        recalls.append(float((mine.argmax(1) == i).mean()))
    gaps = [abs(float(v["score"]) - float(v["ideal"])) for v in by_class.values()]
    return {"score_by_class": by_class,
            "score_error": round(float(np.mean(gaps)), 2) if gaps else None,
            "macro_recall": round(float(np.mean(recalls)), 4) if recalls else None}


def photo_folder(root: Path) -> Path:
    """The folder the photos' names are relative to: DIR itself, or a labels CSV's folder."""
    return root.parent if root.suffix.lower() == ".csv" else root


def labels_csv(path: Path) -> list[tuple[Path, int]]:
    """A CSV with `file` and `label` columns (any others, such as source and time, are notes)."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for n, row in enumerate(rows, start=2):
        label = (row.get("label") or "").strip()
        if label not in CLASSES or not (row.get("file") or "").strip():
            raise UserError(f"{path} line {n}: expected a file and a label from {', '.join(CLASSES)}, "
                             f"got {row.get('file')!r}, {row.get('label')!r}")
        out.append((path.parent / row["file"].strip(), CLASSES.index(label)))
    if not out:
        raise FileNotFoundError(f"no labelled images in {path}")
    return out


def labelled_files(root: Path) -> list[tuple[Path, int]]:
    if root.is_file() and root.suffix.lower() == ".csv":
        return labels_csv(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    out = []
    for i, c in enumerate(CLASSES):
        folder = root / c
        if folder.is_dir():
            out += [(p, i) for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not out:
        raise FileNotFoundError(f"no labelled images in {root}: expected sub-folders named {', '.join(CLASSES)}")
    return out


def read_image(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None and path.suffix.lower() == ".gif":  # OpenCV decodes GIFs only as video
        cap = cv2.VideoCapture(str(path))
        ok, image = cap.read()
        cap.release()
        image = image if ok else None
    return image


def pad_photo(image: np.ndarray, fraction: float) -> np.ndarray:
    """A tight face photo with `fraction` of its size added on every side (edge replicated):
    MediaPipe needs some context around a face to find it, as a camera frame has."""
    if fraction <= 0:
        return image
    h, w = image.shape[:2]
    t, s = round(h * fraction), round(w * fraction)
    return np.asarray(cv2.copyMakeBorder(image, t, t, s, s, cv2.BORDER_REPLICATE))


#: `pad=None` (the default): each photo as it is, and where no face is found, padded by these
#: fractions in turn. A face that fills a portrait leaves MediaPipe no context, so it is
#: missed: on wild_dev's validation people 172 of 551 faces are found as they are, 510 padded
#: by 0.5, 541 with this sequence (a camera frame always has the context).
PAD_STEPS = (0.0, 0.5, 1.0)


def find_face(detector: FaceDetector, image: np.ndarray,
              pads: tuple[float, ...]) -> tuple[np.ndarray, Detection] | None:
    """The largest face of a photo, with the (padded) image it was found on; None: no face."""
    for pad in pads:
        padded = pad_photo(image, pad)
        found = detector.detect(padded)
        if found:
            return padded, max(found, key=lambda d: d.box.area)
    return None


def evaluate(root: Path, classifier: EmotionClassifier, crops: bool, detector_model: str = "full_range",
             progress: bool = True, pad: float | None = None) -> Evaluation:
    """`pad`: a fraction to pad every photo by before detection; None: PAD_STEPS as needed."""
    ev = Evaluation(files=labelled_files(root))
    pads = PAD_STEPS if pad is None else (pad,)
    detector = None
    if not crops:
        from cafe_monitor.detection import FaceDetector

        detector = FaceDetector(detector_model)
    card = classifier.card
    batch: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        if batch:
            probs = classifier.classify(np.stack([c for _, c in batch]))
            for (f, _), p in zip(batch, probs, strict=True):
                ev.predictions[f] = p
            batch.clear()

    try:
        for k, (path, _) in enumerate(ev.files):
            image = read_image(path)
            if image is None:
                ev.unreadable.append(path)
                continue
            h, w = image.shape[:2]
            if detector is None:
                face = crop_face(image, Box(0, 0, w, h), margin=0.0)
            else:
                hit = find_face(detector, image, pads)
                if hit is None:
                    ev.no_face.append(path)
                    continue
                image, largest = hit
                face = crop_face(image, largest.box, card.crop_margin, shift=card.crop_shift,
                                 eyes=largest.eyes if card.align_eyes else None)
            batch.append((path, face))
            if len(batch) >= 256:
                flush()
            if progress and sys.stderr.isatty() and k % 200 == 0:
                print(f"\r{k}/{len(ev.files)} photos", end="", file=sys.stderr)
        flush()
    finally:
        if detector is not None:
            detector.close()
        if progress and sys.stderr.isatty():
            print("\r", end="", file=sys.stderr)
    # unreadable files are skipped, not counted
    unreadable = set(ev.unreadable)
    ev.files = [(f, y) for f, y in ev.files if f not in unreadable]
    return ev


def write_outputs(ev: Evaluation, summary: dict[str, Any], root: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, folder = out / "predictions.csv", photo_folder(root)
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "true", "predicted", "face_found", *[f"p_{c}" for c in CLASSES]])
        for f, y in ev.files:
            p = ev.predictions.get(f)
            w.writerow([str(f.relative_to(folder)), CLASSES[y], CLASSES[int(np.argmax(p))] if p is not None else "",
                        p is not None, *([round(float(x), 4) for x in p] if p is not None else [""] * 7)])
    scores_csv = out / "score_by_class.csv"
    with scores_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["class", "n", "score", "ideal", "gap"])
        for c, row in summary["score_by_class"].items():
            w.writerow([c, row["n"], row["score"], row["ideal"], round(row["score"] - row["ideal"], 2)])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(summary["confusion"]["matrix"], dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(7), CLASSES, rotation=45, ha="right")
    ax.set_yticks(range(7), CLASSES)
    for i in range(7):
        for j in range(7):
            if m[i, j]:
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black")
    acc = summary["accuracy"]
    ax.set_title(f"{summary['n']} photos, accuracy {acc:.1%}" if acc is not None else "no photos")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    png = out / "confusion.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return [csv_path, png, scores_csv, _plot_scores(summary, out / "score_by_class.png")]


def _plot_scores(summary: dict[str, Any], png: Path) -> Path:
    """Score the formula gives each true class beside its ideal: the bias an owner would see."""
    import matplotlib.pyplot as plt

    rows = summary["score_by_class"]
    names = list(rows)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.bar(x - 0.2, [rows[c]["ideal"] for c in names], 0.4, label="ideal", color="#bbbbbb")
    ax.bar(x + 0.2, [rows[c]["score"] for c in names], 0.4, label="model", color="#2a7ab9")
    ax.set_xticks(x, [f"{c}\nn={rows[c]['n']}" for c in names])
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (0-100)")
    err = summary["score_error"]
    ax.set_title("score by true class" + (f" (mean gap {err:.1f} points)" if err is not None else ""))
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(args: argparse.Namespace) -> int:
    classifier = EmotionClassifier(resolve_model(args.model))
    root = Path(args.images)
    ev = evaluate(root, classifier, crops=args.crops, pad=args.pad)
    summary = ev.summary(root)
    if args.out:
        write_outputs(ev, summary, root, Path(args.out))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"photos read: {summary['n']} (unreadable, skipped: {len(ev.unreadable)})")
    print(f"faces found: {summary['detected']}" + ("" if args.crops else f" (no face: {len(ev.no_face)})"))
    if summary["accuracy"] is not None:
        print(f"accuracy: {summary['accuracy']:.2%} overall, "
              f"{summary['accuracy_detected'] or 0:.2%} among detected faces")
    if summary["macro_recall"] is not None:
        print(f"macro recall: {summary['macro_recall']:.2%}    score error: {summary['score_error']:.1f} points "
              "(mean |score - ideal| over the true classes)")
    for c, m in summary["per_class"].items():
        rec = "-" if m["recall"] is None else f"{m['recall']:.1%}"
        prec = "-" if m["precision"] is None else f"{m['precision']:.1%}"
        fid = summary["score_by_class"].get(c)
        score = f"  score {fid['score']:5.1f} (ideal {fid['ideal']:.0f})" if fid else ""
        print(f"  {c:9} n={m['n']:<5} recall {rec:>6}  precision {prec:>6}{score}")
    for f in ev.unreadable:
        print(f"unreadable: {f}", file=sys.stderr)
    return 0
