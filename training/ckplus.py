"""CK+48: posed negative expressions (angry, disgust, fear, sad) that wild_dev barely has, split by person.

    python -m training.ckplus                 # the split's counts
    python -m training.ckplus --write-split   # record it in training/splits/ckplus48.json

The 927 faces are already 48x48 grayscale, tight from the eyebrows to the chin, so they go
to the classifier as they are (no detector: MediaPipe cannot find a face that tight), the way
`cafe-monitor evaluate --crops` reads them. Each expression sequence gives three nearly equal
frames and each person up to a few sequences, so the split is by person, never by image:
people sorted by a hash of their id are dealt train, train, train, val, test (60 / 20 / 20), so
40% of the people never reach training. The split is a pure function of the ids, and
`training/splits/ckplus48.json` records it (a test checks the two agree).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import CLASSES
from cafe_monitor.evaluation import read_image
from training import wild_dev
from training.wild_dev import SPLIT_NAMES, Photo, _digest

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ckplus48"
DEAL = ("train", "train", "train", "val", "test")
RULE = "people sorted by the first 8 bytes of sha256(id), dealt train, train, train, val, test"
RECORDED = Path(__file__).resolve().parent / "splits" / "ckplus48.json"


def load(root: Path = DEFAULT_ROOT) -> list[Photo]:
    """The faces with their labels and people (labels.csv has wild_dev's columns, plus the sequence)."""
    return wild_dev.load(root)


def split_people(people: list[str] | set[str]) -> dict[str, str]:
    """person -> "train" | "val" | "test"."""
    ordered = sorted(set(people), key=lambda name: (_digest(name), name))
    return {name: DEAL[k % len(DEAL)] for k, name in enumerate(ordered)}


def split(photos: list[Photo], name: str) -> list[Photo]:
    people = split_people({p.person for p in photos})
    return [p for p in photos if people[p.person] == name]


def crops(photos: list[Photo]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The faces as the classifier takes them (48x48 uint8) and their labels."""
    faces, labels = [], []
    for p in photos:
        image = read_image(p.path)
        if image is None:
            raise ValueError(f"unreadable CK+48 image: {p.path}")
        gray = image if image.ndim == 2 else image.mean(axis=2).astype(np.uint8)
        if gray.shape != (48, 48):
            raise ValueError(f"{p.path}: {gray.shape}, expected 48x48")
        faces.append(gray)
        labels.append(p.label)
    return np.stack(faces).astype(np.uint8), np.array(labels, dtype=np.int64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--write-split", action="store_true", help=f"write the split to {RECORDED}")
    args = ap.parse_args(argv)
    photos = load(args.root)
    people = split_people({p.person for p in photos})
    for name in SPLIT_NAMES:
        mine = [p for p in photos if people[p.person] == name]
        by_class = Counter(CLASSES[p.label] for p in mine)
        print(f"{name:5} people {sum(v == name for v in people.values()):4}  faces {len(mine):4}  "
              + "  ".join(f"{c} {by_class[c]}" for c in CLASSES))
    if args.write_split:
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps({"rule": RULE, "people": dict(sorted(people.items()))}, indent=1) + "\n")
        print(f"wrote {RECORDED}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
