"""FER2013 loading and cleaning, following the original study, with the counts reported.

The three gzip parts are read in name order, so row i here is row i of the original
`fer2013.csv` (and of FER+'s `fer2013new.csv`). Cleaning touches the Training split
only: the test splits stay exactly as published so our figures compare with others'.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import lzma
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import CLASSES

SPLITS = ("Training", "PublicTest", "PrivateTest")
PART_FILES = {
    "Training": "fer2013_part1_Training.csv.gz",
    "PublicTest": "fer2013_part2_PublicTest.csv.gz",
    "PrivateTest": "fer2013_part3_PrivateTest.csv.gz",
}
FERPLUS_FILE = "fer2013new.csv"
# FER+ vote columns in our (FER2013) class order.
FERPLUS_COLUMNS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


class DataError(RuntimeError):
    """The FER2013 folder is missing or not what its README describes."""


def default_data_dir() -> Path:
    """`../shared/data/fer2013` beside the repository, the team's copy."""
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"


@dataclass
class Split:
    images: npt.NDArray[np.uint8]  # [N, 48, 48]
    labels: npt.NDArray[np.int64]  # [N]
    rows: npt.NDArray[np.int64]  # original 0-based row numbers
    soft: npt.NDArray[np.float32] | None = None  # FER+ vote distribution, [N, 7]


@dataclass
class CleaningReport:
    all_zero: list[int] = field(default_factory=list)
    constant: list[int] = field(default_factory=list)
    duplicate_groups: int = 0
    duplicate_rows_removed: list[int] = field(default_factory=list)
    conflicting_groups: list[list[int]] = field(default_factory=list)
    leaked_into_test: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "all_zero_images": len(self.all_zero),
            "constant_images": len(self.constant),
            "duplicate_groups": self.duplicate_groups,
            "duplicate_rows_removed": len(self.duplicate_rows_removed),
            "conflicting_label_groups": len(self.conflicting_groups),
            "training_rows_also_in_test": len(self.leaked_into_test),
        }


def read_split(data_dir: Path, usage: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    path = data_dir / PART_FILES[usage]
    if not path.is_file():
        raise DataError(
            f"FER2013 part not found: {path} (expected the folder described in "
            "shared/data/fer2013/README.md; pass --data DIR)"
        )
    images: list[npt.NDArray[np.uint8]] = []
    labels: list[int] = []
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        for line_no, rec in enumerate(reader, start=2):
            pixels = np.array(rec["pixels"].split(), dtype=np.uint8)
            if pixels.size != 48 * 48 or rec["Usage"] != usage:
                raise DataError(f"{path}:{line_no}: malformed row")
            images.append(pixels.reshape(48, 48))
            labels.append(int(rec["emotion"]))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def read_ferplus(data_dir: Path, n_rows: int) -> npt.NDArray[np.float32] | None:
    """FER+ votes mapped to our 7 classes and normalised; rows with no votes are uniform."""
    path = data_dir / FERPLUS_FILE
    if not path.is_file():
        return None
    votes = np.zeros((n_rows, len(CLASSES)), dtype=np.float32)
    with path.open(newline="") as fh:
        for i, rec in enumerate(csv.DictReader(fh)):
            votes[i] = [float(rec[c]) for c in FERPLUS_COLUMNS]  # by row position
    total = votes.sum(axis=1, keepdims=True)
    return np.where(total > 0, votes / np.maximum(total, 1), 1.0 / len(CLASSES)).astype(np.float32)


def clean_training(
    train: Split, tests: list[Split]
) -> tuple[Split, CleaningReport]:
    """Drop all-zero and constant images, in-split duplicates (keeping the first of each
    group whose labels agree, dropping whole groups whose labels conflict), and training
    images that also appear in a test split (leakage)."""
    report = CleaningReport()
    flat = train.images.reshape(len(train.images), -1)
    keep = np.ones(len(flat), dtype=bool)
    for i, img in enumerate(flat):
        if not img.any():
            report.all_zero.append(int(train.rows[i]))
            keep[i] = False
        elif img.min() == img.max():
            report.constant.append(int(train.rows[i]))
            keep[i] = False
    groups: dict[bytes, list[int]] = {}
    for idx in np.flatnonzero(keep):
        groups.setdefault(hashlib.blake2b(flat[idx].tobytes(), digest_size=16).digest(), []).append(int(idx))
    for members in groups.values():
        if len(members) < 2:
            continue
        report.duplicate_groups += 1
        if len(set(train.labels[members].tolist())) > 1:
            report.conflicting_groups.append([int(train.rows[m]) for m in members])
            drop = members
        else:
            drop = members[1:]
        for m in drop:
            keep[m] = False
            report.duplicate_rows_removed.append(int(train.rows[m]))
    test_hashes = {
        hashlib.blake2b(img.tobytes(), digest_size=16).digest()
        for t in tests
        for img in t.images.reshape(len(t.images), -1)
    }
    for key, members in groups.items():
        if key in test_hashes:
            for m in members:
                if keep[m]:
                    keep[m] = False
                    report.leaked_into_test.append(int(train.rows[m]))
    cleaned = Split(
        train.images[keep], train.labels[keep], train.rows[keep],
        None if train.soft is None else train.soft[keep],
    )
    return cleaned, report


DEFAULT_CACHE = Path.home() / ".cache" / "cafe-monitor-training"


def load_fer2013(
    data_dir: Path | None = None, cache_dir: Path | None = None
) -> tuple[dict[str, Split], CleaningReport]:
    """All three splits (Training cleaned) and the cleaning report; cached as .npz.

    `data_dir` may also be a pack written by `python -m training.data --pack` (a machine
    without the shared folder, such as a lent GPU, trains from that one file)."""
    data_dir = Path(data_dir or default_data_dir())
    if data_dir.is_file() and data_dir.name.endswith(PACK_SUFFIX):
        return load_pack(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"FER2013 folder not found: {data_dir} (pass --data DIR)")
    cache = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        stamp = "-".join(str((data_dir / f).stat().st_size) for f in PART_FILES.values())
        cache = cache_dir / f"fer2013-{stamp}.npz"
        if cache.is_file():
            return _from_cache(cache)
    raw: dict[str, Split] = {}
    start = 0
    for usage in SPLITS:
        images, labels = read_split(data_dir, usage)
        rows = np.arange(start, start + len(images), dtype=np.int64)
        raw[usage] = Split(images, labels, rows)
        start += len(images)
    soft = read_ferplus(data_dir, start)
    if soft is not None:
        for s in raw.values():
            s.soft = soft[s.rows]
    train, report = clean_training(raw["Training"], [raw["PublicTest"], raw["PrivateTest"]])
    splits = {"Training": train, "PublicTest": raw["PublicTest"], "PrivateTest": raw["PrivateTest"]}
    if cache is not None:
        _to_cache(cache, splits, report)
    return splits, report


def _arrays(splits: dict[str, Split], report: CleaningReport) -> dict[str, npt.NDArray[np.generic]]:
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for name, s in splits.items():
        arrays[f"{name}_images"], arrays[f"{name}_labels"], arrays[f"{name}_rows"] = s.images, s.labels, s.rows
        if s.soft is not None:
            arrays[f"{name}_soft"] = s.soft
    arrays["report"] = np.frombuffer(json.dumps(report.__dict__).encode(), dtype=np.uint8)
    return arrays


def _splits(z: Any) -> tuple[dict[str, Split], CleaningReport]:
    splits = {
        n: Split(z[f"{n}_images"], z[f"{n}_labels"], z[f"{n}_rows"], z.get(f"{n}_soft", None))
        for n in SPLITS
    }
    return splits, CleaningReport(**json.loads(z["report"].tobytes().decode()))


PACK_SUFFIX = ".npz.xz"


def save_pack(path: Path, splits: dict[str, Split], report: CleaningReport) -> None:
    """One small file holding the cleaned splits. Faces are stored as row-to-row
    differences (the PNG "up" filter) before xz: 0.70 of the raw size instead of 0.77,
    which is what lets the pack travel with the repo to a GPU machine (64 MiB limit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _arrays(splits, report)
    for name in SPLITS:
        faces = np.asarray(arrays[f"{name}_images"], dtype=np.uint8)
        up = faces.copy()
        up[:, 1:, :] -= faces[:, :-1, :]  # uint8 arithmetic wraps modulo 256
        arrays[f"{name}_images"] = up
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    tmp = path.with_name(path.name + ".tmp")
    with lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as fh:
        fh.write(buf.getvalue())
    tmp.replace(path)


def load_pack(path: Path) -> tuple[dict[str, Split], CleaningReport]:
    try:
        with lzma.open(path) as fh:
            z = dict(np.load(io.BytesIO(fh.read())))
    except (OSError, lzma.LZMAError, ValueError) as exc:
        raise DataError(f"unreadable FER2013 pack {path}: {exc}") from exc
    for name in SPLITS:
        z[f"{name}_images"] = np.cumsum(z[f"{name}_images"], axis=1, dtype=np.uint8)
    return _splits(z)


def _to_cache(path: Path, splits: dict[str, Split], report: CleaningReport) -> None:
    arrays = _arrays(splits, report)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def load_for_command(data_dir: Path) -> dict[str, Split] | None:
    """The splits for a command-line tool, or None after a one-line error on stderr (the
    tool then exits with 2)."""
    try:
        return load_fer2013(data_dir, DEFAULT_CACHE)[0]
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _from_cache(path: Path) -> tuple[dict[str, Split], CleaningReport]:
    with np.load(path) as z:
        return _splits(z)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the cleaned FER2013 splits to one portable pack file.")
    p.add_argument("--data", type=Path, default=default_data_dir(), help="FER2013 folder")
    p.add_argument("--pack", type=Path, required=True, help=f"file to write (name ends in {PACK_SUFFIX})")
    args = p.parse_args(argv)
    if not args.pack.name.endswith(PACK_SUFFIX):
        p.error(f"--pack must end in {PACK_SUFFIX}")
    try:
        splits, report = load_fer2013(args.data, DEFAULT_CACHE)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_pack(args.pack, splits, report)
    print(f"{args.pack}: {args.pack.stat().st_size / 2**20:.1f} MiB, "
          + ", ".join(f"{n} {len(s.labels)}" for n, s in splits.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
