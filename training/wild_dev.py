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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cafe_monitor.classification import CLASSES
from cafe_monitor.evaluation import pad_photo, read_image
from cafe_monitor.preprocessing import Box, Point, crop_face
from training.data import DEFAULT_CACHE

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wild_dev"
SPLIT_NAMES = ("train", "val", "test")
#: The people with dozens of photos each (film stills): dealt by hand-free rule, not by hash,
#: so that each split gets some of the rare negative classes.
MAJOR_MIN_PHOTOS = 20
MAJOR_DEAL = ("train",) * 4 + ("val",) * 2 + ("test",) * 2
PAD = 0.5


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
        raise FileNotFoundError(f"wild_dev not found: expected {labels}")
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


def detect(photos: list[Photo], cache: Path = DEFAULT_CACHE / "wild_dev_faces.json") -> dict[Path, Found | None]:
    """Largest face per padded photo (None: no face), cached by file name."""
    stored: dict[str, object] = json.loads(cache.read_text()) if cache.is_file() else {}
    missing = [p for p in photos if str(p.path.relative_to(p.path.parents[1])) not in stored]
    if missing:
        from cafe_monitor.detection import FaceDetector

        with FaceDetector("full_range") as detector:
            for p in missing:
                image = read_image(p.path)
                found = detector.detect(pad_photo(image, PAD)) if image is not None else []
                best = max(found, key=lambda d: d.box.area) if found else None
                stored[str(p.path.relative_to(p.path.parents[1]))] = None if best is None else {
                    "box": [best.box.x1, best.box.y1, best.box.x2, best.box.y2],
                    "eyes": best.eyes, "score": best.score}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(stored))
    out: dict[Path, Found | None] = {}
    for p in photos:
        row = stored[str(p.path.relative_to(p.path.parents[1]))]
        if row is None:
            out[p.path] = None
            continue
        assert isinstance(row, dict)
        eyes = row["eyes"]
        out[p.path] = Found(Box(*row["box"]), None if eyes is None else (tuple(eyes[0]), tuple(eyes[1])),
                            float(row["score"]))
    return out


def live_crops(photos: list[Photo], faces: dict[Path, Found | None], margin: float, shift: float,
               align: bool) -> Iterator[tuple[Photo, npt.NDArray[np.uint8] | None]]:
    """Each photo's 48x48 crop as the live pipeline would cut it (None where no face was found)."""
    for p in photos:
        found = faces[p.path]
        image = read_image(p.path) if found is not None else None
        if found is None or image is None:
            yield p, None
            continue
        yield p, crop_face(pad_photo(image, PAD), found.box, margin, shift=shift,
                           eyes=found.eyes if align else None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = ap.parse_args(argv)
    photos = load(args.root)
    people = split_people(photos)
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
