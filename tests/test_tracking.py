from __future__ import annotations

import numpy as np

from cafe_monitor.domain import Box
from cafe_monitor.tracking import Observation, TrackerConfig, VisitTracker, iou, match

HAPPY = np.array([0, 0, 0, 1, 0, 0, 0], np.float32)
SAD = np.array([0, 0, 0, 0, 1, 0, 0], np.float32)


def obs(x: float, probs: np.ndarray = HAPPY, quality: float = 1.0) -> Observation:
    return Observation(Box(x, 10, x + 50, 60), 0.9, probs, quality)


def test_iou_and_match() -> None:
    assert iou(Box(0, 0, 10, 10), Box(0, 0, 10, 10)) == 1.0
    assert iou(Box(0, 0, 10, 10), Box(20, 20, 30, 30)) == 0.0
    pairs = match([Box(0, 0, 10, 10), Box(100, 0, 110, 10)], [Box(101, 0, 111, 10), Box(1, 0, 11, 10)], 0.3)
    assert sorted(pairs) == [(0, 1), (1, 0)]


def test_one_person_moving_slowly_is_one_visit() -> None:
    t = VisitTracker(TrackerConfig(min_frames=3, min_seconds=0.2, max_gap_seconds=1.0))
    for i in range(30):
        faces, ended = t.update([obs(10 + i)], i * 0.1)
        assert not ended
    assert faces[0].visit_id == 1
    _, ended = t.update([], 5.0)
    assert [v.id for v in ended] == [1] and ended[0].frames == 30


def test_passer_by_is_not_a_visit() -> None:
    t = VisitTracker(TrackerConfig(min_frames=5, min_seconds=0.5))
    t.update([obs(10)], 0.0)
    t.update([obs(12)], 0.1)
    _, ended = t.update([], 10.0)
    assert ended == [] and t.close_all() == []


def test_two_people_two_visits_and_quality_weighted_mean() -> None:
    t = VisitTracker(TrackerConfig(min_frames=2, min_seconds=0.0))
    for i in range(10):
        # person A happy with good quality, a few sad frames with near-zero weight
        a = obs(10, SAD if i < 3 else HAPPY, quality=0.01 if i < 3 else 1.0)
        t.update([a, obs(300, SAD)], i * 0.1)
    visits = sorted(t.close_all(), key=lambda v: v.id)
    assert len(visits) == 2
    a = next(v for v in visits if v.distribution[3] > 0.5)
    assert a.distribution[3] > 0.99  # low-quality sad frames barely count


def test_a_visit_mix_is_a_share_of_its_time_not_of_its_readings() -> None:
    """Five sad readings in its first 0.2 s (an entering face is read on every detection),
    then a happy one every 0.2 s for 1.8 s (a steady face, 5 a second): sad for 0.2 s of
    2 s, not 5 readings of 14."""
    t = VisitTracker(TrackerConfig(min_frames=2, min_seconds=0.0))
    times = [0.0, 0.04, 0.08, 0.12, 0.16] + [0.2 + 0.2 * k for k in range(10)]
    for k, at in enumerate(times):
        t.update([obs(10, SAD if k < 5 else HAPPY)], at)
    t.update([obs(10, None)], 2.0)  # detected at the end, not read: the last reading stands until then
    (visit,) = t.close_all()
    assert abs(visit.distribution[4] - 0.2 / 2.0) < 1e-6 and abs(visit.distribution[3] - 1.8 / 2.0) < 1e-6
    assert visit.weight == 15  # the readings' qualities, as before


def test_a_reading_stands_for_half_a_second_at_most() -> None:
    """A face unread for 2 s (lost, or turned away) is not assumed to have kept its expression."""
    t = VisitTracker(TrackerConfig(min_frames=2, min_seconds=0.0, max_gap_seconds=5.0))
    t.update([obs(10, SAD)], 0.0)
    t.update([obs(10, HAPPY)], 2.0)
    t.update([obs(10, HAPPY)], 2.25)
    t.update([obs(10, None)], 2.5)
    (visit,) = t.close_all()  # sad 0.5 s (not 2), happy 0.25 + 0.25 s (a mean of readings: 1/3 sad)
    assert abs(visit.distribution[4] - 0.5) < 1e-6 and abs(visit.distribution[3] - 0.5) < 1e-6


def test_readings_at_one_instant_are_averaged() -> None:
    t = VisitTracker(TrackerConfig(min_frames=1, min_seconds=0.0))
    t.update([obs(10, SAD)], 0.0)
    (visit,) = t.close_all()
    assert visit.distribution[4] == 1.0


def test_short_gap_keeps_the_visit_long_gap_splits_it() -> None:
    t = VisitTracker(TrackerConfig(min_frames=2, min_seconds=0.0, max_gap_seconds=1.0))
    for i in range(5):
        t.update([obs(10)], i * 0.1)
    t.update([], 0.9)  # 0.5 s gap: same visit
    for i in range(5):
        t.update([obs(10)], 1.0 + i * 0.1)
    _, ended = t.update([], 3.0)
    assert len(ended) == 1 and ended[0].frames == 10


def test_smoothed_label_does_not_flicker() -> None:
    t = VisitTracker(TrackerConfig(smoothing=0.3))
    for i in range(10):
        faces, _ = t.update([obs(10, HAPPY)], i * 0.1)
    faces, _ = t.update([obs(10, SAD)], 1.0)  # one odd frame
    assert faces[0].smoothed.argmax() == 3


def test_a_wall_clock_stepping_back_leaves_no_stale_track() -> None:
    """A live camera's timestamps are the wall clock; NTP stepping it back an hour must not
    keep a customer who left as an open visit until the clock catches up: tracks age by the
    frames' monotonic time, while visits keep the wall-clock times they are stored with."""
    t = VisitTracker(TrackerConfig(min_frames=3, min_seconds=0.2, max_gap_seconds=1.0))
    wall, tick = 1_800_000_000.0, 100.0
    for i in range(10):
        t.update([obs(10 + i)], wall + i * 0.1, now=tick + i * 0.1)
    wall -= 3600  # the clock is corrected by an hour, backwards
    ended = []
    for i in range(10, 40):  # the customer has left; three more seconds of empty frames
        _, done = t.update([], wall + i * 0.1, now=tick + i * 0.1)
        ended += done
    assert [v.id for v in ended] == [1] and t.open_visits() == []
    assert ended[0].first_seen == 1_800_000_000.0 and ended[0].frames == 10


def test_a_face_back_after_a_gap_with_no_frames_is_a_new_visit() -> None:
    """A camera that dies with a customer in view and returns 25 s later (benchmarks/faults.py)
    sends no frame in between: the face at the same place is a new customer, not the old visit
    stretched over the outage (the old track was matched before it was found gone)."""
    t = VisitTracker(TrackerConfig(min_frames=2, min_seconds=0.0, max_gap_seconds=2.0))
    for i in range(10):
        t.update([obs(10)], i * 0.1)
    faces, ended = t.update([obs(10)], 25.0)  # the first frame after the outage
    assert [v.id for v in ended] == [1] and ended[0].last_seen == 0.9
    for i in range(1, 10):
        faces, ended = t.update([obs(10)], 25.0 + i * 0.1)
    assert faces[0].visit_id == 2 and [v.id for v in t.close_all()] == [2]


def test_a_stutter_without_frames_keeps_the_visit() -> None:
    """No frame for 2.5 s (a busy machine, a stream catching up) with the face at the same place
    before and after: the same customer, one visit (only a camera lost for longer splits it)."""
    t = VisitTracker(TrackerConfig(min_frames=2, min_seconds=0.0, max_gap_seconds=2.0))
    for i in range(10):
        t.update([obs(10)], i * 0.1)
    for i in range(10):
        faces, ended = t.update([obs(10)], 3.4 + i * 0.1)
        assert not ended
    assert faces[0].visit_id == 1 and [v.id for v in t.close_all()] == [1]
