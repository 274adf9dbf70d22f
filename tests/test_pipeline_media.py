"""The real pipeline (MediaPipe + shipped ONNX model + tracker) on real face media (assets/)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor.domain import CLASSES, Region
from tests.conftest import ClipRun, run_clip

pytestmark = pytest.mark.media


def test_emotions_clip_one_visit_faces_everywhere_moods_change(emotions_clip_run: ClipRun) -> None:
    results, stats, visits = emotions_clip_run.results, emotions_clip_run.stats, emotions_clip_run.visits
    assert stats.frames == 472
    assert stats.frames_with_faces / stats.frames >= 0.95
    assert len(visits) == 1 and visits[0].frames >= 0.95 * 472
    probs = np.array([r.faces[0].probabilities for r in results if r.faces])
    # the clip acts sad, fear/shock, surprise, happy in turn: the model's top class must move
    per_second = [probs[i : i + 25].mean(0).argmax() for i in range(0, len(probs), 25)]
    assert len(set(per_second)) >= 3, [CLASSES[i] for i in per_second]
    assert probs[:, CLASSES.index("happy")].std() > 0.1


def test_walking_gif_three_visits(customers_gif: Path) -> None:
    visits = run_clip(customers_gif).visits
    assert len(visits) == 3


def test_group_photo_six_faces_in_one_frame(group_photo: Path) -> None:
    results = run_clip(group_photo).results
    assert len(results) == 1 and len(results[0].faces) == 6


def test_region_of_interest_excludes_faces(group_photo: Path) -> None:
    left_half = Region(0.0, 0.0, 0.5, 1.0)
    results = run_clip(group_photo, region=left_half).results
    width = cv2.imread(str(group_photo)).shape[1]
    assert len(results[0].faces) == 3  # the left column of the mosaic
    assert all(f.box.centre[0] <= width / 2 for f in results[0].faces)


def test_no_face_frames_make_no_visits(face_then_empty_clip: Path) -> None:
    run = run_clip(face_then_empty_clip)
    results, stats, visits = run.results, run.stats, run.visits
    assert stats.frames == 150
    assert all(r.faces for r in results[5:70]) and not any(r.faces for r in results[-70:])
    assert len(visits) == 1 and visits[0].last_seen < 3.1  # the visit ends with the face
