"""The real-face part of the training mixture as one file, for training from scratch (a lent GPU).

    python -m training.mixture --out .gpu/real_faces.npz          # here, where ../shared and MediaPipe are
    python -m training.train --real-faces .gpu/real_faces.npz --real-share 0.3 ...   # there

wild_dev's photos need the detector and the card's framing to become 48x48 crops, and the
GPU machine has neither the photos nor time to spare, so the crops are cut here: each
*training* person's photo `--copies` times with fresh framing and tilt jitter (as
`training.finetune` does every epoch), beside CK+48's *training* people as they are. Only
training people are packed (training/splits/ records who they are); validation and test
people stay here, for the choice and the report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import CLASSES
from training import ckplus, wild_dev

Faces = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]


def training_faces(wild_root: Path, ck_root: Path, copies: int, framing: dict[str, object],
                   seed: int = 0) -> Faces:
    rng = np.random.default_rng(seed)
    wild_x, wild_y = wild_dev.wild_crops(wild_dev.split(wild_dev.load(wild_root), "train"), copies, rng, None,
                                         framing)
    ck_x, ck_y = ckplus.crops(ckplus.split(ckplus.load(ck_root), "train"))
    return np.concatenate([wild_x, ck_x]), np.concatenate([wild_y, ck_y])


def save(path: Path, faces: Faces) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=faces[0], labels=faces[1])


def load(path: Path) -> Faces:
    """(images [N, 48, 48] uint8, labels [N]); a file of another shape is a clear error."""
    with np.load(path) as z:
        images, labels = z["images"], z["labels"]
    if images.ndim != 3 or images.shape[1:] != (48, 48) or images.dtype != np.uint8 or len(labels) != len(images):
        raise ValueError(f"{path}: not a real-face pack (images {images.shape} {images.dtype}, "
                         f"labels {labels.shape})")
    return images, labels.astype(np.int64)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--card", type=Path, default=Path("models/emotion_cascade.card.json"),
                    help="the card whose framing the crops follow")
    ap.add_argument("--copies", type=int, default=8, help="jittered crops per wild_dev photo")
    ap.add_argument("--wild", type=Path, default=wild_dev.DEFAULT_ROOT)
    ap.add_argument("--ckplus", type=Path, default=ckplus.DEFAULT_ROOT)
    args = ap.parse_args(argv)
    framing = json.loads(args.card.read_text())["preprocessing"]
    faces = training_faces(args.wild, args.ckplus, args.copies, framing)
    save(args.out, faces)
    counts = np.bincount(faces[1], minlength=len(CLASSES))
    print(f"{args.out}: {len(faces[1])} faces ({args.out.stat().st_size / 2**20:.1f} MiB): "
          + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, counts, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
