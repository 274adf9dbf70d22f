"""Write a trained model's probabilities on the cleaned Training split, for distillation on CPUs.

    python -m training.teacher --checkpoint runs/vgg/best.pt --out runs/vgg/training_probs.npy
    python -m training.train --arch cafenet_wide --teacher-probs runs/vgg/training_probs.npy ...

On a GPU the trainer runs its teachers on every augmented batch (`--teacher`). On a CPU a
teacher such as the VGG-style net costs several times the student's own step, so here it
runs once, over the un-augmented faces averaged with their mirror images (the flip is the
only augmentation that changes no expression), and the student trains against those
stored probabilities. Rows follow the cleaned split's order, which `training.data` fixes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from training.data import default_data_dir, load_for_command
from training.evaluate import probabilities


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path)
    src.add_argument("--onnx", type=Path, help="faster on CPUs than the checkpoint")
    p.add_argument("--out", type=Path, required=True, help=".npy file: float32 [N, 7], FER2013 class order")
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--limit", type=int, default=0, help="only the first N faces (smoke tests)")
    args = p.parse_args(argv)
    splits = load_for_command(args.data)
    if splits is None:
        return 2
    faces = splits["Training"].images[: args.limit or None]
    source = args.onnx or args.checkpoint
    probs = (probabilities(source, faces) + probabilities(source, faces, flip=True)) / 2
    labels = splits["Training"].labels[: len(probs)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, probs.astype(np.float32))
    print(f"{args.out}: {len(probs)} faces, teacher agrees with the labels on "
          f"{float((probs.argmax(1) == labels).mean()):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
