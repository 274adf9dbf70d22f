from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor.detection import Detection
from cafe_monitor.domain import Box
from tests.conftest import clip_frames

REPO = Path(__file__).resolve().parents[1]


def evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cafe_monitor", "evaluate", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_synthetic_folder_unreadable_noface_gray_colour(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    (root / "happy" / "broken.jpg").write_bytes(b"not a jpeg at all")
    cv2.imwrite(str(root / "sad" / "wall.png"), np.full((200, 200, 3), 128, np.uint8))  # no face
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "sad" / "gray.png"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    cv2.imwrite(str(root / "happy" / "colour.jpg"), rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    p = evaluate("--images", str(root), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["n"] == 3 and out["unreadable"] == ["happy/broken.jpg"]
    assert "sad/wall.png" in out["no_face"]
    assert out["detected"] + len(out["no_face"]) == 3
    crops = json.loads(evaluate("--images", str(root), "--json", "--crops", "--out", str(tmp_path / "o")).stdout)
    assert crops["detected"] == 3 and crops["no_face"] == []
    assert sum(map(sum, crops["confusion"]["matrix"])) == 3
    assert (tmp_path / "o" / "confusion.png").is_file()
    assert len((tmp_path / "o" / "predictions.csv").read_text().splitlines()) == 4


@pytest.mark.media
def test_real_photos_go_through_detection(still_faces: list[Path], group_photo: Path, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "neutral").mkdir()
    for photo in (still_faces[0], group_photo):
        shutil.copy(photo, root / "happy" / photo.name)
    for photo in still_faces[1:3]:
        shutil.copy(photo, root / "neutral" / photo.name)
    out = json.loads(evaluate("--images", str(root), "--json").stdout)
    assert out["n"] == 4 and out["detected"] == 4
    assert 0.0 <= out["accuracy"] <= 1.0
    assert set(out["per_class"]) >= {"happy", "neutral"}


class PickyDetector:
    """Finds one face only in images at least `side` pixels wide (as MediaPipe finds a face
    only with some context around it)."""

    def __init__(self, side: int) -> None:
        self.side, self.seen = side, []

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.seen.append(image.shape[1])
        return [Detection(Box(10, 10, 60, 60), 0.9)] if image.shape[1] >= self.side else []


def test_a_photo_is_padded_only_as_much_as_its_face_needs() -> None:
    from cafe_monitor.evaluation import PAD_STEPS, find_face

    photo = np.zeros((100, 100, 3), np.uint8)
    detector = PickyDetector(side=200)
    hit = find_face(detector, photo, PAD_STEPS)  # type: ignore[arg-type]
    assert hit is not None and hit[0].shape == (200, 200, 3)  # padded by 0.5 on every side
    assert detector.seen == [100, 200]  # as it is first, then the first pad that finds it
    assert find_face(PickyDetector(side=100), photo, PAD_STEPS)[0] is photo  # type: ignore[arg-type,index]
    assert find_face(PickyDetector(side=1000), photo, PAD_STEPS) is None  # type: ignore[arg-type]


@pytest.mark.media
def test_tight_face_crops_are_found_by_default(emotions_clip: Path, tmp_path: Path) -> None:
    """Portraits cut at the face's box (what a labelled photo set often holds): MediaPipe finds
    none of three as they are (measured), the default padding finds all three."""
    from cafe_monitor.detection import FaceDetector

    root = tmp_path / "portraits"
    (root / "sad").mkdir(parents=True)
    with FaceDetector("full_range") as detector:
        for index, frame in zip((20, 150, 440), clip_frames(emotions_clip, [20, 150, 440]), strict=True):
            (face,) = detector.detect(frame)
            b = face.box
            cv2.imwrite(str(root / "sad" / f"tight{index}.png"), frame[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)])
    unpadded = json.loads(evaluate("--images", str(root), "--json", "--pad", "0").stdout)
    assert unpadded["detected"] == 0 and len(unpadded["no_face"]) == 3
    default = json.loads(evaluate("--images", str(root), "--json").stdout)
    assert default["detected"] == 3 and default["no_face"] == []


def test_missing_folder_is_one_line(tmp_path: Path) -> None:
    p = evaluate("--images", str(tmp_path / "none"))
    assert p.returncode == 2 and p.stderr.startswith("error: image folder not found")


def test_score_fidelity_per_class_against_ideal() -> None:
    from cafe_monitor.evaluation import score_fidelity

    eye = np.eye(7)
    # two neutral photos read as neutral and sad, one happy photo read as happy; no other class
    labels = np.array([6, 6, 3])
    probs = np.stack([eye[6], eye[4], eye[3]])
    out = score_fidelity(labels, probs)
    assert set(out["score_by_class"]) == {"neutral", "happy"}
    neutral = out["score_by_class"]["neutral"]
    assert neutral == {"n": 2, "score": 30.0, "ideal": 50.0}  # 50 * (1 + (0 - 0.8) / 2)
    assert out["score_by_class"]["happy"]["score"] == 100.0
    assert out["score_error"] == 10.0  # (|30 - 50| + 0) / 2
    assert out["macro_recall"] == 0.75  # (1/2 + 1) / 2


def test_json_and_out_carry_score_fidelity(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "neutral").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k in range(3):
        cv2.imwrite(str(root / "neutral" / f"{k}.png"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    p = evaluate("--images", str(root), "--json", "--crops", "--out", str(tmp_path / "o"))
    out = json.loads(p.stdout)
    assert set(out["score_by_class"]) == {"neutral"} and out["score_by_class"]["neutral"]["ideal"] == 50.0
    assert out["score_error"] == round(abs(out["score_by_class"]["neutral"]["score"] - 50.0), 2)
    assert out["macro_recall"] == out["per_class"]["neutral"]["recall"]
    rows = (tmp_path / "o" / "score_by_class.csv").read_text().splitlines()
    assert rows[0] == "class,n,score,ideal,gap" and rows[1].startswith("neutral,3,")
    assert (tmp_path / "o" / "score_by_class.png").is_file()
    text = evaluate("--images", str(root), "--crops").stdout
    assert "score error" in text and "ideal 50" in text


def test_a_labels_csv_names_its_photos_and_a_bad_row_is_one_line(tmp_path: Path) -> None:
    from cafe_monitor.evaluation import labelled_files

    (tmp_path / "a.png").write_bytes(b"")
    good = tmp_path / "labels.csv"
    good.write_text("file,label,source,time\na.png,happy,somewhere,frame 3\nsub/b.jpg,neutral,,\n")
    assert labelled_files(good) == [(tmp_path / "a.png", 3), (tmp_path / "sub" / "b.jpg", 6)]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\na.png,happy\nb.png,joy\n")
    p = evaluate("--images", str(bad))
    assert p.returncode == 2 and p.stderr.startswith(f"error: {bad} line 3:") and "'joy'" in p.stderr
