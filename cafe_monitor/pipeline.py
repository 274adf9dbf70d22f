"""One frame through every stage: detect -> region filter -> crop -> classify -> track.

`Pipeline.process` is synchronous and camera-free, so tests feed it synthetic or real
frames directly; a session (cafe_monitor.session.MonitorSession) drives it from its
camera for the CLI, the multi-camera monitor and the dashboard's worker thread.
Per-stage timings are measured on every frame (benchmarks and the status line read them).

With a work planner (cafe_monitor.work_planner; what `session.build_pipeline` gives every
camera) each frame is either detected or carried (the tracker's predicted boxes, ~no cost),
and only the detected faces whose reading is due are cropped and classified. Without one,
the fixed stride of `every_n_frames` applies (every frame detected and classified at 1).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from cafe_monitor.capture import Image
from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.detection import Detection, FaceDetector
from cafe_monitor.domain import Box, Region
from cafe_monitor.limits import bounded
from cafe_monitor.preprocessing import INPUT_SIZE as CROP_SIDE
from cafe_monitor.preprocessing import crop_face
from cafe_monitor.tracking import Observation, TrackedFace, TrackerConfig, Visit, VisitTracker
from cafe_monitor.work_planner import WorkPlanner

log = logging.getLogger(__name__)

STAGES = ("detect", "preprocess", "classify", "track")


@dataclass(frozen=True)
class QualityConfig:
    """How much each frame of a face counts: detector confidence x size factor x (0.25 + 0.75 x sharpness
    factor); small or blurred faces count less or not at all."""

    min_face_px: float = bounded(24.0, 0, 4096, help="faces smaller than this (pixels) are not classified at all")
    good_face_px: float = bounded(80.0, 0, 4096, low_open=True, help="faces this big or bigger count in full")
    min_sharpness: float = bounded(15.0, 0, 100_000,
                                   help="sharpness (Laplacian variance of the 48x48 crop) under which a face's "
                                        "sharpness factor is 0")
    good_sharpness: float = bounded(120.0, 0, 100_000, low_open=True, help="this sharp or sharper: factor 1")


def face_quality(detection: Detection, crop: Image, cfg: QualityConfig) -> float:
    """Weight of one face in its visit's mean: detector confidence x size x sharpness."""
    side = min(detection.box.width, detection.box.height)
    size = np.clip((side - cfg.min_face_px) / (cfg.good_face_px - cfg.min_face_px), 0.0, 1.0)
    sharp = float(cv2.Laplacian(crop, cv2.CV_64F).var())
    sharpness = np.clip((sharp - cfg.min_sharpness) / (cfg.good_sharpness - cfg.min_sharpness), 0.0, 1.0)
    return float(detection.score * size * (0.25 + 0.75 * sharpness))


@dataclass
class FrameResult:
    image: Image  # the frame itself (not copied), for drawing; never stored
    index: int
    timestamp: float
    faces: list[TrackedFace]
    ended_visits: list[Visit]
    detections: int  # faces found anywhere, before the region filter
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: every face box the detector found (inside or outside the area, any size): the
    #: preview blurs them all, not only the classified faces
    boxes: list[Box] = field(default_factory=list)
    detected: bool = True  # False: the faces were carried from the last detection
    readings: int = 0  # faces classified on this frame
    #: why the planner detected on this frame or carried it (work_planner's reasons); "" without one
    plan: str = ""


class Pipeline:
    def __init__(
        self,
        detector: FaceDetector,
        classifier: EmotionClassifier,
        *,
        tracker: VisitTracker | None = None,
        region: Region = Region(),
        quality: QualityConfig = QualityConfig(),
        every_n_frames: int = 1,
        classify_carried: bool = False,
        planner: WorkPlanner | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker or VisitTracker(TrackerConfig())
        self.region = region
        self.quality = quality
        self.margin, self.shift = classifier.card.crop_margin, classifier.card.crop_shift
        self.align_eyes = classifier.card.align_eyes
        #: Detect on every Nth processed frame only; between them the last frame's boxes are
        #: carried (faces at a counter move little in 1/15 s). Carried frames are either
        #: answered with the last result as it stood (`classify_carried` off: ~no cost, the
        #: tracker sees only detection frames) or cropped and classified at the carried boxes.
        self.every_n_frames = max(1, every_n_frames)
        self.classify_carried = classify_carried
        #: decides per frame what to detect and classify (replaces the fixed stride above)
        self.planner = planner
        self.clock = clock  # measures the work (seconds); the planner's budget is paid from it
        self._previous_index: int | None = None
        self._untracked: list[Box] = []  # last detection's boxes not tracked (outside the area, small)
        self._processed = 0
        self._carried: list[Detection] = []
        self._last: FrameResult | None = None

    def process(self, image: Image, timestamp: float, index: int = 0, now: float | None = None) -> FrameResult:
        """One frame; `timestamp` is what visits are stored with, `now` (a monotonic time, for
        a live camera) what the tracker ages tracks by (default: the timestamp)."""
        if self.planner is not None:
            return self._planned(self.planner, image, timestamp, index, now)
        t0 = time.perf_counter()
        fresh = self._processed % self.every_n_frames == 0 or self._last is None
        self._processed += 1
        if not fresh and not self.classify_carried:
            assert self._last is not None
            return dataclasses.replace(self._last, image=image, index=index, timestamp=timestamp, ended_visits=[],
                                       detected=False, readings=0,
                                       timings_ms={**dict.fromkeys(STAGES, 0.0),
                                                   "track": (time.perf_counter() - t0) * 1e3})
        detections = self.detector.detect(image) if fresh else self._carried
        self._carried = detections
        t1 = time.perf_counter()
        h, w = image.shape[:2]
        kept = [d for d in detections
                if self.region.contains(d.box, w, h) and min(d.box.width, d.box.height) >= self.quality.min_face_px]
        crops = (np.stack([crop_face(image, d.box, self.margin, shift=self.shift,
                                     eyes=d.eyes if self.align_eyes else None) for d in kept]) if kept
                 else np.zeros((0, 48, 48), np.uint8))
        t2 = time.perf_counter()
        probs = self.classifier.classify(crops)
        t3 = time.perf_counter()
        observations = [
            Observation(d.box, d.score, p, face_quality(d, c, self.quality))
            for d, c, p in zip(kept, crops, probs, strict=True)
        ]
        faces, ended = self.tracker.update(observations, timestamp, now)
        t4 = time.perf_counter()
        timings = {"detect": (t1 - t0) * 1e3, "preprocess": (t2 - t1) * 1e3,
                   "classify": (t3 - t2) * 1e3, "track": (t4 - t3) * 1e3}
        self._last = FrameResult(image, index, timestamp, faces, ended, len(detections), timings,
                                 boxes=[d.box for d in detections], detected=fresh, readings=len(kept))
        return self._last

    def _planned(self, planner: WorkPlanner, image: Image, timestamp: float, index: int,
                 now: float | None) -> FrameResult:
        """One frame as the planner decides: carried at the predicted boxes, or detected with
        the due faces classified."""
        clock = self.clock
        t0 = clock()
        behind = self._previous_index is not None and index - self._previous_index > 1  # the loop dropped frames
        self._previous_index = index
        h, w = image.shape[:2]
        plan = planner.plan(timestamp, self.tracker.views(timestamp), behind=behind)
        if not plan.detect:
            faces = [dataclasses.replace(f, box=_clipped(f.box, w, h)) for f in self.tracker.predict(timestamp)]
            t1 = clock()
            planner.spent((t1 - t0) * 1e3)
            self._last = FrameResult(image, index, timestamp, faces, [], len(faces) + len(self._untracked),
                                     {**dict.fromkeys(STAGES, 0.0), "track": (t1 - t0) * 1e3},
                                     boxes=[f.box for f in faces] + self._untracked, detected=False, plan=plan.reason)
            return self._last
        small, scale = self._detector_copy(image)
        detections = [_scaled(d, 1 / scale) for d in self.detector.detect(small)] if scale != 1 \
            else self.detector.detect(image)
        t1 = clock()
        kept = [d for d in detections
                if self.region.contains(d.box, w, h) and min(d.box.width, d.box.height) >= self.quality.min_face_px]
        tracked = {id(d) for d in kept}
        self._untracked = [d.box for d in detections if id(d) not in tracked]
        views = {v.track_id: v for v in self.tracker.views(timestamp)}
        ids = self.tracker.match_ids([d.box for d in kept], timestamp)
        read = [d for d, i in zip(kept, ids, strict=True)
                if planner.wants_reading(views.get(i) if i is not None else None, timestamp, plan)]
        crops = (np.stack([self._crop(image, small, scale, d) for d in read]) if read
                 else np.zeros((0, 48, 48), np.uint8))
        t2 = clock()
        probs = self.classifier.classify(crops)
        t3 = clock()
        readings = {id(d): (p, face_quality(d, c, self.quality)) for d, c, p in zip(read, crops, probs, strict=True)}
        observations = [Observation(d.box, d.score, *readings.get(id(d), (None, 0.0))) for d in kept]
        faces, ended = self.tracker.update(observations, timestamp, now)
        t4 = clock()
        planner.spent((t4 - t0) * 1e3, detect_ms=(t1 - t0) * 1e3)
        timings = {"detect": (t1 - t0) * 1e3, "preprocess": (t2 - t1) * 1e3,
                   "classify": (t3 - t2) * 1e3, "track": (t4 - t3) * 1e3}
        self._last = FrameResult(image, index, timestamp, faces, ended, len(detections), timings,
                                 boxes=[d.box for d in detections], readings=len(read), plan=plan.reason)
        return self._last

    def _detector_copy(self, image: Image) -> tuple[Image, float]:
        """The frame shrunk as the detector would shrink it (its `max_side`), and the scale; made
        here so that the faces' crops can be cut from it too (an area-averaged copy: a face's
        crop from it costs ~0.9 ms at 720p instead of ~2.5, docs/benchmarks.md)."""
        max_side = getattr(self.detector, "max_side", None)
        h, w = image.shape[:2]
        if not isinstance(max_side, int) or max(h, w) <= max_side:
            return image, 1.0
        scale = max_side / max(h, w)
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        return np.asarray(small, np.uint8), scale

    def _crop(self, image: Image, small: Image, scale: float, d: Detection) -> Image:
        """The classifier's 48x48 crop, from the detector's copy when the face's square there is
        still at least twice the crop's side (area averaging all the way), else from the frame."""
        eyes = d.eyes if self.align_eyes else None
        side = max(d.box.width, d.box.height) * (1 + 2 * self.margin) * scale
        if scale == 1 or side < 2 * CROP_SIDE:
            return crop_face(image, d.box, self.margin, shift=self.shift, eyes=eyes)
        shrunk = _scaled(Detection(d.box, d.score, eyes), scale)
        return crop_face(small, shrunk.box, self.margin, shift=self.shift, eyes=shrunk.eyes)

    def finish(self) -> list[Visit]:
        """End the run: every open visit is closed and returned. The next frame (a next run)
        is detected afresh, never answered with this run's last faces and boxes."""
        self._processed, self._carried, self._last = 0, [], None
        self._previous_index, self._untracked = None, []
        if self.planner is not None:
            self.planner.reset()
        return self.tracker.close_all()

    def close(self) -> None:
        self.detector.close()


@dataclass
class RunStats:
    frames: int = 0
    frames_with_faces: int = 0
    max_faces: int = 0  # most faces classified in one frame
    seconds: float = 0.0
    dropped: int = 0
    detected: int = 0  # frames detected (the others carried)
    readings: int = 0  # faces classified
    stage_ms: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: FrameResult) -> None:
        self.frames += 1
        self.frames_with_faces += bool(result.faces)
        self.max_faces = max(self.max_faces, len(result.faces))
        self.detected += result.detected
        self.readings += result.readings
        for k, v in result.timings_ms.items():
            self.stage_ms[k] += v

    def mean_stage_ms(self) -> dict[str, float]:
        return {k: round(v / self.frames, 3) if self.frames else 0.0 for k, v in self.stage_ms.items()}



def _clipped(box: Box, width: int, height: int) -> Box:
    """A predicted box kept inside the frame."""
    return Box(min(max(0.0, box.x1), width), min(max(0.0, box.y1), height),
               min(max(0.0, box.x2), width), min(max(0.0, box.y2), height))


def _scaled(d: Detection, factor: float) -> Detection:
    """A detection's box and eyes multiplied by `factor` (between a frame and its shrunk copy)."""
    b = d.box
    eyes = (((d.eyes[0][0] * factor, d.eyes[0][1] * factor), (d.eyes[1][0] * factor, d.eyes[1][1] * factor))
            if d.eyes is not None else None)
    return Detection(Box(b.x1 * factor, b.y1 * factor, b.x2 * factor, b.y2 * factor), d.score, eyes)
