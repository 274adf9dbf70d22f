"""The real pipeline (MediaPipe + shipped ONNX model + tracker) on real face media."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor.capture import CaptureThread
from cafe_monitor.classification import CLASSES
from cafe_monitor.config import Settings
from cafe_monitor.pipeline import FrameResult, Region, run
from cafe_monitor.session import build_pipeline

pytestmark = pytest.mark.media


def run_clip(path: Path, region: Region = Region()) -> tuple[list[FrameResult], object, list]:
    pipeline = build_pipeline(Settings())
    pipeline.region = region
    results: list[FrameResult] = []
    cap = CaptureThread(str(path))
    cap.open_or_raise()
    try:
        stats, visits = run(pipeline, cap, on_result=lambda r, _c: results.append(r))
    finally:
        pipeline.close()
    return results, stats, visits


def test_emotions_clip_one_visit_faces_everywhere_moods_change(media: Path) -> None:
    results, stats, visits = run_clip(media / "pexels_wolfgang-langer_woman-emotions.mp4")
    assert stats.frames == 472
    assert stats.frames_with_faces / stats.frames >= 0.95
    assert len(visits) == 1 and visits[0].frames >= 0.95 * 472
    probs = np.array([r.faces[0].probabilities for r in results if r.faces])
    # the clip acts sad, fear/shock, surprise, happy in turn: the model's top class must move
    per_second = [probs[i : i + 25].mean(0).argmax() for i in range(0, len(probs), 25)]
    assert len(set(per_second)) >= 3, [CLASSES[i] for i in per_second]
    assert probs[:, CLASSES.index("happy")].std() > 0.1


def test_walking_gif_three_visits(media: Path) -> None:
    _, _, visits = run_clip(media / "intel_face-demographics-walking-and-pause.gif")
    assert len(visits) == 3


def test_family_photo_six_faces_in_one_frame(media: Path) -> None:
    results, _, _ = run_clip(media / "azure_faces_family6.jpg")
    assert len(results) == 1 and len(results[0].faces) == 6


def test_region_of_interest_excludes_faces(media: Path) -> None:
    left_half = Region(0.0, 0.0, 0.5, 1.0)
    results, _, _ = run_clip(media / "azure_faces_family6.jpg", region=left_half)
    width = cv2.imread(str(media / "azure_faces_family6.jpg")).shape[1]
    assert 0 < len(results[0].faces) < 6
    assert all(f.box.centre[0] <= width / 2 for f in results[0].faces)


def test_no_face_frames_make_no_visits(media: Path) -> None:
    results, stats, visits = run_clip(media / "pyfeat_face_then_noface.mov")
    assert stats.frames == 169
    assert any(not r.faces for r in results[-40:])  # the cartoon end has no real face
    assert 1 <= len(visits) <= 2
