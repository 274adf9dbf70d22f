"""Training code on a tiny synthetic FER2013 folder: cleaning counts, one epoch, resume,
export parity. Full training never runs in CI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from training import data, export, train  # noqa: E402


def write_part(path: Path, usage: str, images: list[np.ndarray], labels: list[int]) -> None:
    with gzip.open(path, "wt", newline="") as fh:
        fh.write("emotion,pixels,Usage\n")
        for img, lab in zip(images, labels, strict=True):
            fh.write(f"{lab},{' '.join(map(str, img.ravel()))},{usage}\n")


@pytest.fixture
def tiny_fer(tmp_path: Path) -> Path:
    """Training: 60 random faces + 2 all-zero + 3 duplicate pairs (one pair with conflicting
    labels) + 1 image that also appears in PublicTest."""
    rng = np.random.default_rng(0)
    def rand(n: int) -> list[np.ndarray]:
        return [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(n)]
    train_imgs, train_labels = rand(60), [i % 7 for i in range(60)]
    public, private = rand(20), rand(20)
    train_imgs += [np.zeros((48, 48), np.uint8)] * 2
    train_labels += [0, 1]
    train_imgs += [train_imgs[0].copy(), train_imgs[1].copy(), train_imgs[2].copy()]
    train_labels += [train_labels[0], train_labels[1], (train_labels[2] + 1) % 7]  # last pair conflicts
    train_imgs.append(public[0].copy())
    train_labels.append(3)
    folder = tmp_path / "fer"
    folder.mkdir()
    write_part(folder / data.PART_FILES["Training"], "Training", train_imgs, train_labels)
    write_part(folder / data.PART_FILES["PublicTest"], "PublicTest", public, [i % 7 for i in range(20)])
    write_part(folder / data.PART_FILES["PrivateTest"], "PrivateTest", private, [i % 7 for i in range(20)])
    return folder


def test_cleaning_counts(tiny_fer: Path) -> None:
    splits, report = data.load_fer2013(tiny_fer)
    s = report.summary()
    assert s["all_zero_images"] == 2
    assert s["duplicate_groups"] == 3
    assert s["conflicting_label_groups"] == 1
    # pairs 0 and 1 drop their copy, the conflicting pair drops both members
    assert s["duplicate_rows_removed"] == 1 + 1 + 2
    assert s["training_rows_also_in_test"] == 1
    assert len(splits["Training"].labels) == 66 - 2 - 4 - 1  # 60 + 2 zero + 3 copies + 1 leaked
    assert len(splits["PublicTest"].labels) == 20  # test splits untouched


def test_missing_data_folder_is_clear(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match="not found"):
        data.load_fer2013(tmp_path / "nothing")
    assert train.main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "run")]) == 2


@pytest.mark.parametrize("arch", ["cafenet_small", "study_cnn"])
def test_one_tiny_epoch_resume_and_export_parity(tiny_fer: Path, tmp_path: Path, arch: str) -> None:
    run = tmp_path / "run"
    args = ["--data", str(tiny_fer), "--out", str(run), "--arch", arch, "--epochs", "2", "--batch-size", "16",
            "--cache", str(tmp_path / "cache")]
    assert train.main([*args, "--limit", "40"]) == 0
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3 and (run / "curves.png").is_file() and (run / "best.pt").is_file()
    # resume: a finished run has nothing left to do and keeps its history
    assert train.main([*args, "--limit", "40"]) == 0
    assert len((run / "log.csv").read_text().splitlines()) == 3

    onnx_path = tmp_path / "m.onnx"
    assert export.main(["--checkpoint", str(run / "best.pt"), "--out", str(onnx_path), "--skip-eval"]) == 0
    card = json.loads(onnx_path.with_suffix(".card.json").read_text())
    assert card["parity_max_abs_diff"] < 1e-4
    assert card["classes"] == list(data.CLASSES) and card["input"]["shape"] == ["N", 1, 48, 48]

    from cafe_monitor.classification import EmotionClassifier

    probs = EmotionClassifier(onnx_path).classify(np.zeros((3, 48, 48), np.uint8))
    assert probs.shape == (3, 7)


@pytest.mark.parametrize("arch", ["vgg", "efficientnet_b0", "cafenet"])
def test_architectures_take_48x48_gray(arch: str) -> None:
    from training.models import build

    model = build(arch).eval()
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 7)


def test_augment_keeps_shape_and_changes_pixels() -> None:
    from training.augment import AugmentConfig, augment

    x = torch.randn(8, 1, 48, 48)
    y = augment(x, AugmentConfig(), torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(x, y)
