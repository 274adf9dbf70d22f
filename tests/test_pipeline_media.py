"""The real pipeline (MediaPipe + shipped ONNX model + tracker) on real face media (assets/)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cafe_monitor.capture import Frame
from cafe_monitor.config import Settings
from cafe_monitor.domain import CLASSES, Region
from cafe_monitor.pipeline import FrameResult, RunStats
from cafe_monitor.session import MonitorSession, build_pipeline
from cafe_monitor.tracking import Visit

pytestmark = pytest.mark.media


class RecordingSession(MonitorSession):
    """The session as it runs (capture thread, pipeline, tracker), keeping each frame's result."""

    results: list[FrameResult]

    def process(self, frame: Frame) -> FrameResult:
        result = super().process(frame)
        self.results.append(result)
        return result


def run_clip(path: Path, region: Region = Region()) -> tuple[list[FrameResult], RunStats, list[Visit]]:
    pipeline = build_pipeline(Settings())
    pipeline.region = region
    session = RecordingSession(Settings(), source=str(path), store=False, pipeline=pipeline)
    session.results = []
    try:
        result = session.run()
    finally:
        pipeline.close()
    return session.results, result.stats, result.visits


def test_emotions_clip_one_visit_faces_everywhere_moods_change(emotions_clip: Path) -> None:
    results, stats, visits = run_clip(emotions_clip)
    assert stats.frames == 472
    assert stats.frames_with_faces / stats.frames >= 0.95
    assert len(visits) == 1 and visits[0].frames >= 0.95 * 472
    probs = np.array([r.faces[0].probabilities for r in results if r.faces])
    # the clip acts sad, fear/shock, surprise, happy in turn: the model's top class must move
    per_second = [probs[i : i + 25].mean(0).argmax() for i in range(0, len(probs), 25)]
    assert len(set(per_second)) >= 3, [CLASSES[i] for i in per_second]
    assert probs[:, CLASSES.index("happy")].std() > 0.1


def test_walking_gif_three_visits(customers_gif: Path) -> None:
    _, _, visits = run_clip(customers_gif)
    assert len(visits) == 3


def test_group_photo_six_faces_in_one_frame(group_photo: Path) -> None:
    results, _, _ = run_clip(group_photo)
    assert len(results) == 1 and len(results[0].faces) == 6


def test_region_of_interest_excludes_faces(group_photo: Path) -> None:
    left_half = Region(0.0, 0.0, 0.5, 1.0)
    results, _, _ = run_clip(group_photo, region=left_half)
    width = cv2.imread(str(group_photo)).shape[1]
    assert len(results[0].faces) == 3  # the left column of the mosaic
    assert all(f.box.centre[0] <= width / 2 for f in results[0].faces)


def test_no_face_frames_make_no_visits(face_then_empty_clip: Path) -> None:
    results, stats, visits = run_clip(face_then_empty_clip)
    assert stats.frames == 150
    assert all(r.faces for r in results[5:70]) and not any(r.faces for r in results[-70:])
    assert len(visits) == 1 and visits[0].last_seen < 3.1  # the visit ends with the face
