"""Tracks carried between detections (issue 24): constant-velocity prediction, matching
against the predicted box, detected-but-unread faces."""

from __future__ import annotations

import numpy as np
import pytest

from cafe_monitor.domain import Box
from cafe_monitor.tracking import Observation, TrackerConfig, VisitTracker

HAPPY = np.array([0, 0, 0, 1, 0, 0, 0], np.float32)
SAD = np.array([0, 0, 0, 0, 1, 0, 0], np.float32)


def at(x: float, probs: np.ndarray | None = HAPPY) -> Observation:
    return Observation(Box(x, 10, x + 50, 60), 0.9, probs, 1.0)


def test_a_carried_face_moves_at_its_velocity_not_frozen() -> None:
    t = VisitTracker(TrackerConfig(min_frames=1, min_seconds=0.0))
    t.update([at(100)], 0.0)
    t.update([at(110)], 0.1)  # 100 px/s to the right
    (face,) = t.predict(0.2)
    assert face.box.x1 == pytest.approx(120) and face.box.x2 == pytest.approx(170)
    assert face.box.y1 == pytest.approx(10)
    (view,) = t.views(0.2)
    assert view.motion == pytest.approx(100 * 0.1 / 50)  # 10 px of a 50 px box


def test_prediction_is_capped_in_time() -> None:
    t = VisitTracker(TrackerConfig(min_frames=1, min_seconds=0.0))
    t.update([at(100)], 0.0)
    t.update([at(110)], 0.1)
    assert t.predict(10.0)[0].box.x1 == pytest.approx(110 + 100 * 0.5)


def test_a_fast_face_is_matched_where_it_is_predicted() -> None:
    """20 px per 0.1 s on a 50 px box: after a 0.2 s gap the last box no longer overlaps
    enough (IoU 0.11), the predicted one does: still one track."""
    t = VisitTracker(TrackerConfig(min_frames=1, min_seconds=0.0, iou_threshold=0.25))
    t.update([at(100)], 0.0)
    t.update([at(120)], 0.1)
    assert t.match_ids([at(160).box], 0.3) == [1]
    faces, _ = t.update([at(160)], 0.3)
    assert [f.track_id for f in faces] == [1]


def test_a_detected_unread_face_counts_as_seen_not_in_the_mix() -> None:
    t = VisitTracker(TrackerConfig(min_frames=3, min_seconds=0.0))
    t.update([at(100, HAPPY)], 0.0)
    faces, _ = t.update([at(101, None)], 0.1)
    assert np.array_equal(faces[0].probabilities, HAPPY)  # the latest reading is shown
    t.update([at(102, SAD)], 0.2)
    t.update([at(103, None)], 0.3)
    (visit,) = t.close_all()
    assert visit.frames == 4
    # no reading of its own: the time is the reading's before it (happy 0.0-0.2 s, sad 0.2-0.3 s)
    assert visit.distribution == pytest.approx((2 * HAPPY + SAD) / 3)


def test_predict_counts_the_frame_in_view_and_shows_only_faces_of_the_last_detection() -> None:
    t = VisitTracker(TrackerConfig(min_frames=1, min_seconds=0.0))
    t.update([at(100, HAPPY), at(300, SAD)], 0.0)
    t.update([at(100, HAPPY)], 0.1)  # the second face was not seen at the last detection
    assert [f.track_id for f in t.predict(0.15)] == [1]
    assert [v.track_id for v in t.views(0.15)] == [1]
    first, second = t.close_all()
    assert (first.frames, second.frames) == (3, 1)  # carried frames count as in view, not in the mix
    assert first.distribution == pytest.approx(HAPPY) and first.weight == 2.0
