"""wild_dev: labelled faces from outside FER2013, split by person, seen through the live path.

    python -m training.wild_dev            # the split's counts, and the detections cached

The split is a pure function of the people's names (no file to keep in step): the eight
film actors who carry nearly all angry, disgust, fear and sad photos are dealt four to
training, two to validation and two to the held-out test; everyone else goes by a hash of
the name, 60 / 15 / 25. So 40% of the people never reach training; choices (margin,
calibration, epochs) are made on `val`, and `test` is reported once.

Each photo is a tight crop, so it is padded (50% a side, edges replicated) before the
MediaPipe detector sees it, as DESIGN's data README suggests; the box and eye keypoints of
the largest face are cached, since every framing tried below reuses them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cafe_monitor.domain import CLASSES, Box
from cafe_monitor.evaluation import find_face, pad_photo, read_image
from cafe_monitor.preprocessing import Point, crop_face, eye_angle
from training.augment import WebcamConfig, webcam
from training.data import DEFAULT_CACHE

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wild_dev"
SPLIT_NAMES = ("train", "val", "test")
#: The people with dozens of photos each (film stills): dealt by hand-free rule, not by hash,
#: so that each split gets some of the rare negative classes.
MAJOR_MIN_PHOTOS = 20
MAJOR_DEAL = ("train",) * 4 + ("val",) * 2 + ("test",) * 2
PAD = 0.5
RULE = (f"people with >= {MAJOR_MIN_PHOTOS} photos sorted by the first 8 bytes of sha256(name) and dealt "
        "train x4, val x2, test x2; everyone else by sha256(name) % 10000: < 6000 train, < 7500 val, else test")
RECORDED = Path(__file__).resolve().parent / "splits" / "wild_dev.json"
#: The framing chosen by training.framing on the validation people (training/README.md), and
#: how far training crops are jittered around it (the detector's boxes and keypoints wobble).
FRAMING: dict[str, Any] = {"crop_margin": 0.2, "crop_shift": -0.1, "align_eyes": True}
JITTER = {"margin": 0.1, "shift": 0.08, "tilt_deg": 10.0}


@dataclass(frozen=True)
class Photo:
    path: Path
    label: int
    person: str


@dataclass(frozen=True)
class Found:
    """The largest face the detector found in the padded photo (pixel coordinates there)."""

    box: Box
    eyes: tuple[Point, Point] | None
    score: float


def load(root: Path = DEFAULT_ROOT) -> list[Photo]:
    labels = root / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{root.name} not found: expected {labels}")
    with labels.open() as fh:
        return [Photo(root / r["path"], CLASSES.index(r["label"]), r["person"]) for r in csv.DictReader(fh)]


def _digest(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def split_people(photos: list[Photo]) -> dict[str, str]:
    """person -> "train" | "val" | "test"."""
    counts = Counter(p.person for p in photos)
    majors = sorted((n for n, c in counts.items() if c >= MAJOR_MIN_PHOTOS), key=_digest)
    out = {}
    for k, name in enumerate(majors):
        out[name] = MAJOR_DEAL[k % len(MAJOR_DEAL)]
    for name in counts:
        if name not in out:
            u = (_digest(name) % 10_000) / 10_000
            out[name] = "train" if u < 0.60 else "val" if u < 0.75 else "test"
    return out


def split(photos: list[Photo], name: str) -> list[Photo]:
    people = split_people(photos)
    return [p for p in photos if people[p.person] == name]


#: Detections of every photo seen, by full path (tests point it elsewhere).
CACHE = DEFAULT_CACHE / "wild_dev_faces.json"


def detect(photos: list[Photo]) -> dict[Path, Found | None]:
    """Largest face per padded photo (None: no face), cached by the photo's full path."""
    cache = CACHE
    stored: dict[str, object] = json.loads(cache.read_text()) if cache.is_file() else {}
    missing = [p for p in photos if str(p.path.resolve()) not in stored]
    if missing:
        from cafe_monitor.detection import FaceDetector

        with FaceDetector("full_range") as detector:
            for p in missing:
                image = read_image(p.path)
                hit = find_face(detector, image, (PAD,)) if image is not None else None
                best = hit[1] if hit is not None else None
                stored[str(p.path.resolve())] = None if best is None else {
                    "box": [best.box.x1, best.box.y1, best.box.x2, best.box.y2],
                    "eyes": best.eyes, "score": best.score}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(stored))
    out: dict[Path, Found | None] = {}
    for p in photos:
        row = stored[str(p.path.resolve())]
        if row is None:
            out[p.path] = None
            continue
        assert isinstance(row, dict)
        eyes = row["eyes"]
        out[p.path] = Found(Box(*row["box"]), None if eyes is None else (tuple(eyes[0]), tuple(eyes[1])),
                            float(row["score"]))
    return out


def wild_crops(photos: list[Photo], copies: int, rng: np.random.Generator | None, damage: WebcamConfig | None,
               framing: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Live-path crops of the photos with a face (framing: a card's `preprocessing`, default
    FRAMING); with `rng`, framing and tilt jittered."""
    framing = {**FRAMING, **{k: v for k, v in (framing or {}).items() if k in FRAMING}}
    faces = detect(photos)
    crops, labels = [], []
    for p in photos:
        found = faces[p.path]
        image = read_image(p.path) if found is not None else None
        if found is None or image is None:
            continue
        padded = pad_photo(image, PAD)
        for _ in range(copies):
            margin, shift, eyes = float(framing["crop_margin"]), float(framing["crop_shift"]), found.eyes
            if rng is not None:
                margin += rng.uniform(-JITTER["margin"], JITTER["margin"])
                shift += rng.uniform(-JITTER["shift"], JITTER["shift"])
                if eyes is not None:  # residual tilt: the eyes as if the head leaned further
                    angle = np.radians(eye_angle(eyes) + rng.uniform(-JITTER["tilt_deg"], JITTER["tilt_deg"]))
                    (xa, ya), (xb, yb) = sorted(eyes)
                    cx, cy, half = (xa + xb) / 2, (ya + yb) / 2, np.hypot(xb - xa, yb - ya) / 2
                    eyes = ((cx - half * np.cos(angle), cy - half * np.sin(angle)),
                            (cx + half * np.cos(angle), cy + half * np.sin(angle)))
            crop = crop_face(padded, found.box, margin, shift=shift, eyes=eyes if framing["align_eyes"] else None)
            if rng is not None and rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops.append(np.ascontiguousarray(crop))
            labels.append(p.label)
    out = np.stack(crops)
    if damage is not None and rng is not None:
        out = webcam(out, damage, rng)
    return out, np.array(labels, dtype=np.int64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--write-split", action="store_true", help=f"record the split in {RECORDED}")
    ap.add_argument("--link", nargs=2, metavar=("SPLIT", "DIR"),
                    help="make DIR/<emotion>/ links to one split's photos, for `cafe-monitor evaluate --images DIR`")
    args = ap.parse_args(argv)
    photos = load(args.root)
    if args.link:
        name, folder = args.link[0], Path(args.link[1])
        for p in split(photos, name):
            link = folder / CLASSES[p.label] / p.path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(p.path.resolve())
        print(f"{folder}: {len(split(photos, name))} photos of the {name} people")
        return 0
    people = split_people(photos)
    if args.write_split:
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps({"rule": RULE, "people": dict(sorted(people.items()))}, indent=1) + "\n")
        print(f"wrote {RECORDED}")
    faces = detect(photos)
    for name in SPLIT_NAMES:
        mine = [p for p in photos if people[p.person] == name]
        by_class = Counter(CLASSES[p.label] for p in mine)
        found = sum(faces[p.path] is not None for p in mine)
        print(f"{name:5} people {sum(v == name for v in people.values()):4}  photos {len(mine):4}  "
              f"faces found {found:4}  " + "  ".join(f"{c} {by_class[c]}" for c in CLASSES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
