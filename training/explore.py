"""FER2013 exploration report: class balance per split, sample faces per class, pixel
statistics and the cleaning findings (with row numbers), as Markdown with charts.

    python -m training.explore --data ../shared/data/fer2013 --out training/reports/fer2013
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from training.data import CLASSES, SPLITS, DataError, Split, clean_training, default_data_dir, read_split


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "reports" / "fer2013")
    args = p.parse_args(argv)
    try:
        raw: dict[str, Split] = {}
        start = 0
        for usage in SPLITS:
            images, labels = read_split(args.data, usage)
            raw[usage] = Split(images, labels, np.arange(start, start + len(images)))
            start += len(images)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    counts = {u: np.bincount(s.labels, minlength=7) for u, s in raw.items()}

    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.27
    for k, u in enumerate(SPLITS):
        share = counts[u] / counts[u].sum()
        ax.bar(np.arange(7) + (k - 1) * width, share, width, label=f"{u} ({counts[u].sum():,})")
    ax.set_xticks(range(7), CLASSES)
    ax.set_ylabel("share of split")
    ax.set_title("FER2013 class balance per split")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "class_balance.png", dpi=100)
    plt.close(fig)

    rng = np.random.default_rng(0)
    train = raw["Training"]
    fig, axes = plt.subplots(7, 8, figsize=(8, 7.4))
    for i, c in enumerate(CLASSES):
        idx = rng.choice(np.flatnonzero(train.labels == i), 8, replace=False)
        for j, k in enumerate(idx):
            axes[i, j].imshow(train.images[k], cmap="gray", vmin=0, vmax=255)
            axes[i, j].axis("off")
        axes[i, 0].set_title(c, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / "samples.png", dpi=80)
    plt.close(fig)

    stats = []
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for u, s in raw.items():
        flat = s.images.reshape(len(s.images), -1).astype(np.float32)
        means, stds = flat.mean(1), flat.std(1)
        stats.append((u, flat.mean(), flat.std(), np.median(means), np.percentile(stds, 5)))
        ax.hist(means, bins=64, histtype="step", density=True, label=u)
    ax.set_xlabel("mean pixel value per image")
    ax.set_title("Image brightness per split")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "brightness.png", dpi=100)
    plt.close(fig)

    cleaned, report = clean_training(raw["Training"], [raw["PublicTest"], raw["PrivateTest"]])
    low_contrast = [int(r) for r, img in zip(train.rows, train.images, strict=True) if 0 < img.std() < 5]
    found = report.summary()
    lines = [
        "# FER2013 exploration", "",
        f"Data: `{args.data}` (35,887 rows). Written by `python -m training.explore`.", "",
        "## Class balance", "", "![class balance](class_balance.png)", "",
        "| split | " + " | ".join(CLASSES) + " | total |", "|---" * 9 + "|",
        *[f"| {u} | " + " | ".join(f"{n:,}" for n in counts[u]) + f" | {counts[u].sum():,} |" for u in SPLITS], "",
        "Disgust is rare (1.5% of Training): expect its recall to be the least reliable figure.", "",
        "## Sample faces (Training, random)", "", "![samples](samples.png)", "",
        "## Pixel statistics", "", "![brightness](brightness.png)", "",
        "| split | mean | std | median image mean | 5th pct image std |", "|---|---|---|---|---|",
        *[f"| {u} | {m:.1f} | {sd:.1f} | {med:.1f} | {p5:.1f} |" for u, m, sd, med, p5 in stats], "",
        "The splits have the same intensity distribution; we normalise with fixed constants "
        "(x = (pixel/255 − 0.5)/0.25) rather than dataset statistics, so the model card alone defines the input.", "",
        "## Cleaning findings (Training; test splits are left as published)", "",
        f"- all-zero images: {found['all_zero_images']} — rows {report.all_zero}",
        f"- other constant images: {found['constant_images']}",
        f"- near-blank images (pixel std < 5, kept): {len(low_contrast)} — rows {low_contrast[:40]}"
        + (" …" if len(low_contrast) > 40 else ""),
        f"- groups of identical images: {found['duplicate_groups']}; rows removed as copies: "
        f"{found['duplicate_rows_removed']}",
        f"- groups whose copies carry different labels (all members removed): {found['conflicting_label_groups']} — "
        f"rows {report.conflicting_groups[:25]}" + (" …" if len(report.conflicting_groups) > 25 else ""),
        f"- Training images identical to a PublicTest/PrivateTest image (removed, leakage): "
        f"{found['training_rows_also_in_test']} — first rows {report.leaked_into_test[:30]}",
        f"- Training rows after cleaning: {len(cleaned.labels):,} of {len(train.labels):,}", "",
    ]
    (args.out / "README.md").write_text("\n".join(lines))
    print(args.out / "README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
