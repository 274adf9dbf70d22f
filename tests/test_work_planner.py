"""The work planner (issue 24): when a camera detects, carries, and classifies; synthetic
tracks and costs, no clock but the ones passed in."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cafe_monitor.capture import Image
from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.detection import Detection
from cafe_monitor.domain import Box
from cafe_monitor.paths import DEFAULT_MODEL
from cafe_monitor.pipeline import Pipeline
from cafe_monitor.preprocessing import crop_face
from cafe_monitor.tracking import TrackerConfig, VisitTracker
from cafe_monitor.work_planner import (
    CAP,
    CARRY,
    ENTERING,
    FIRST,
    MOVING,
    READING,
    TIME_LEFT,
    PlannerConfig,
    TrackView,
    WorkPlanner,
)

FPS = 30.0


def steady(readings: int = 10, last_reading: float | None = 0.0, motion: float = 0.0, track_id: int = 1) -> TrackView:
    return TrackView(track_id, True, readings, last_reading, motion)


def planner(**kw: float) -> WorkPlanner:
    return WorkPlanner(PlannerConfig(**kw))  # type: ignore[arg-type]


def reasons(p: WorkPlanner, tracks: list[TrackView], frames: int, *, cost_ms: float = 0.0,
            detect_ms: float = 5.0, start: float = 0.0) -> list[str]:
    """Plan `frames` frames at 30 fps, paying `detect_ms` per detection and `cost_ms` per frame."""
    out = []
    for i in range(frames):
        plan = p.plan(start + i / FPS, tracks)
        p.spent(cost_ms + (detect_ms if plan.detect else 0.0), detect_ms=detect_ms if plan.detect else None)
        out.append(plan.reason)
    return out


def test_first_frame_is_detected_then_the_cap_bounds_the_stride() -> None:
    p = planner(max_stride=4, budget_ms=0)
    got = reasons(p, [steady(last_reading=100.0)], 9)  # a reading never due
    assert got == [FIRST, CARRY, CARRY, CARRY, CAP, CARRY, CARRY, CARRY, CAP]


def test_stride_one_detects_every_frame() -> None:
    assert CARRY not in reasons(planner(max_stride=1, budget_ms=0), [steady(last_reading=100.0)], 10)


def test_an_entering_face_is_detected_on_every_frame() -> None:
    entering = TrackView(1, False, 2, 0.0, 0.0)
    assert reasons(planner(budget_ms=0), [steady(last_reading=100.0), entering], 5)[1:] == [ENTERING] * 4


def test_a_due_reading_asks_for_a_detection() -> None:
    p = planner(budget_ms=0, readings_per_second=5)
    p.plan(0.0, [])
    assert p.plan(1 / FPS, [steady(last_reading=0.0)]).reason == CARRY
    assert p.plan(0.19, [steady(last_reading=0.0)]).reason == READING


@pytest.mark.parametrize(("fps", "every"), [(30.0, 6), (25.0, 5), (12.5, 2), (5.0, 1)])
def test_readings_per_second_in_frames(fps: float, every: int) -> None:
    """5 readings/s: due from half a frame early, so every 6th frame at 30 fps, every 2nd at 12.5."""
    p = planner(readings_per_second=5)
    for i in range(3):
        p.plan(i / fps, [])
    last = 2 / fps
    due = [k for k in range(1, 8) if p.wants_reading(steady(last_reading=last), last + k / fps)]
    assert due[0] == every


def test_new_faces_and_faces_with_few_readings_are_always_read() -> None:
    p = planner(readings_per_second=5, min_readings=5)
    assert p.wants_reading(None, 0.0)
    assert p.wants_reading(steady(readings=4, last_reading=0.0), 0.01)
    assert not p.wants_reading(steady(readings=5, last_reading=0.0), 0.01)
    assert planner(readings_per_second=0).wants_reading(steady(readings=50, last_reading=0.0), 0.0)


def test_a_detection_for_one_face_reads_the_faces_at_least_half_due() -> None:
    p = planner(readings_per_second=5, budget_ms=0, max_stride=30)
    for i in range(6):  # 30 fps
        p.plan(i / FPS, [])
    due, half, fresh = steady(last_reading=0.0, track_id=1), steady(last_reading=0.1, track_id=2), \
        steady(last_reading=0.15, track_id=3)
    plan = p.plan(0.2, [due, half, fresh])
    assert plan.reason == READING
    assert [p.wants_reading(t, 0.2, plan) for t in (due, half, fresh)] == [True, True, False]
    assert not p.wants_reading(half, 0.2)  # on a frame detected for another reason: only what is due


def test_a_moving_face_is_detected_a_still_one_carried() -> None:
    p = planner(budget_ms=0, max_motion=0.25)
    p.plan(0.0, [])
    assert p.plan(0.03, [steady(last_reading=0.0, motion=0.1)]).reason == CARRY
    assert p.plan(0.06, [steady(last_reading=0.0, motion=0.3)]).reason == MOVING


def test_time_left_detects_every_frame_when_detection_is_cheap_and_carries_when_not() -> None:
    still = [steady(last_reading=100.0)]
    cheap = reasons(planner(budget_ms=2.0), still, 12, detect_ms=1.0)
    assert cheap[1:] == [TIME_LEFT] * 11
    costly = reasons(planner(budget_ms=2.0), still, 30, detect_ms=6.0)
    assert 3 <= costly.count(TIME_LEFT) + costly.count(CAP) <= 12  # ~ every 3rd frame: 2 ms a frame pays 6 ms
    assert costly.count(CARRY) >= 18


def test_behind_spends_nothing_beyond_the_need() -> None:
    p = planner(budget_ms=100.0)
    p.plan(0.0, [])
    assert p.plan(1 / FPS, [steady(last_reading=100.0)], behind=True).reason == CARRY
    assert p.plan(2 / FPS, [steady(last_reading=100.0)]).reason == TIME_LEFT


def test_a_busy_spell_is_forgotten_within_a_few_frames() -> None:
    """Debt is capped at two detections' worth: a long expensive spell does not starve the camera."""
    p = planner(budget_ms=2.0, max_stride=30)
    reasons(p, [], 1, detect_ms=4.0)
    for _ in range(100):
        p.spent(50.0)
    assert p.credit_ms >= -8.0
    got = reasons(p, [steady(last_reading=100.0)], 7, detect_ms=4.0, start=1.0)
    assert got[:5] == [CARRY] * 5 and got[5] == TIME_LEFT  # 6 frames of 2 ms pay the debt and one detection


def test_reset_detects_the_next_frame() -> None:
    p = planner(budget_ms=0)
    reasons(p, [], 2)
    p.reset()
    assert p.plan(10.0, []).reason == FIRST


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError):
        PlannerConfig(max_stride=0)
    with pytest.raises(ValueError):
        PlannerConfig(readings_per_second=-1)


class StillFace:
    """One face that never moves; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: Image) -> list[Detection]:
        self.calls += 1
        return [Detection(Box(100.0, 80.0, 200.0, 200.0), 0.9)]

    def close(self) -> None:
        pass


class TickClock:
    """Every reading advances 1 ms: a frame's work costs what its calls to the clock say."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1e-3
        return self.now


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    return EmotionClassifier(DEFAULT_MODEL)


def test_pipeline_with_a_planner_carries_a_still_face_and_reads_it_five_times_a_second(
        classifier: EmotionClassifier) -> None:
    detector = StillFace()
    pipe = Pipeline(detector, classifier, tracker=VisitTracker(TrackerConfig(min_frames=5, min_seconds=0.1)),  # type: ignore[arg-type]
                    planner=WorkPlanner(PlannerConfig(max_stride=6, budget_ms=0, readings_per_second=5,
                                                      min_readings=5)), clock=TickClock())
    image = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    results = [pipe.process(image, i / FPS, i) for i in range(90)]  # 3 s
    assert all(r.faces for r in results)  # carried frames show the face too
    assert [r.detected for r in results[:5]] == [True] * 5  # entering: detected (and read) on every frame
    readings = sum(r.readings for r in results)
    assert 5 + 2.5 * 5 <= readings <= 5 + 3 * 5 + 1  # the first 5, then 5/s
    assert detector.calls == sum(r.detected for r in results) < 40
    carried = [r for r in results if not r.detected]
    assert carried and all(r.timings_ms["detect"] == 0 and r.readings == 0 for r in carried)
    assert carried[0].plan == CARRY and results[0].plan == FIRST
    (visit,) = pipe.finish()
    assert visit.frames == 90  # every frame in view, carried or detected; the readings make the mix


class SlidingFace:
    """One face moving 3 px right per frame (the frame index is set by the test)."""

    def __init__(self) -> None:
        self.frame = 0

    def detect(self, image: Image) -> list[Detection]:
        x = 100.0 + 3 * self.frame
        return [Detection(Box(x, 80.0, x + 100.0, 200.0), 0.9)]

    def close(self) -> None:
        pass


def test_carried_frames_move_the_face_along_its_motion(classifier: EmotionClassifier) -> None:
    detector = SlidingFace()
    pipe = Pipeline(detector, classifier, tracker=VisitTracker(TrackerConfig(min_frames=3, min_seconds=0.0)),  # type: ignore[arg-type]
                    planner=WorkPlanner(PlannerConfig(max_stride=6, budget_ms=0, readings_per_second=5,
                                                      min_readings=3)), clock=TickClock())
    image = np.zeros((360, 640, 3), np.uint8)
    carried = 0
    for i in range(40):
        detector.frame = i
        r = pipe.process(image, i / FPS, i)
        if not r.detected:
            carried += 1
            assert r.faces[0].box.x1 == pytest.approx(100.0 + 3 * i, abs=1.0)  # where the face is, not where it was
    assert carried >= 20


class ShrinkingDetector:
    """Like FaceDetector: works on frames of at most `max_side`; notes the sizes it was given."""

    max_side = 640

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def detect(self, image: Image) -> list[Detection]:
        self.shapes.append(image.shape)
        return [Detection(Box(200.0, 50.0, 400.0, 250.0), 0.9, ((250.0, 120.0), (350.0, 120.0)))]

    def close(self) -> None:
        pass


def test_the_detector_copy_is_made_once_and_boxes_come_back_in_frame_pixels(classifier: EmotionClassifier) -> None:
    """A 1280x720 frame: the detector gets the 640x360 copy, the faces come back at twice its
    coordinates, and the crop cut from the copy matches the one cut from the frame."""
    detector = ShrinkingDetector()
    pipe = Pipeline(detector, classifier, planner=WorkPlanner(PlannerConfig()), clock=TickClock())  # type: ignore[arg-type]
    rng = np.random.default_rng(1)
    image = np.asarray(cv2.GaussianBlur(rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8), (0, 0), 8), np.uint8)
    r = pipe.process(image, 0.0, 0)
    assert detector.shapes == [(360, 640, 3)]
    assert r.faces[0].box == Box(400.0, 100.0, 800.0, 500.0)
    small, scale = pipe._detector_copy(image)
    d = Detection(Box(400.0, 100.0, 800.0, 500.0), 0.9, ((500.0, 240.0), (700.0, 240.0)))
    from_copy = pipe._crop(image, small, scale, d).astype(int)
    from_frame = crop_face(image, d.box, pipe.margin, shift=pipe.shift, eyes=d.eyes).astype(int)
    assert np.abs(from_copy - from_frame).mean() < 2.0


def test_settings_make_the_planner() -> None:
    from cafe_monitor.config import Settings, parse
    from cafe_monitor.session import build_planner

    assert build_planner(Settings()).config == PlannerConfig(max_stride=6, budget_ms=2.0, readings_per_second=5.0,
                                                             min_readings=5)
    every_frame = build_planner(parse({"detector": {"every_n_frames": 1}, "classifier": {"readings_per_second": 0}}))
    assert reasons(every_frame, [steady(last_reading=0.0)], 5)[1:] == [CAP] * 4
    assert every_frame.wants_reading(steady(readings=100, last_reading=0.0), 0.0)
