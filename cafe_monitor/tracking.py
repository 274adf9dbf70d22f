"""Faces across frames -> customer visits.

Greedy IoU matching (what a counter camera needs: few faces, slow motion; ByteTrack's
extra machinery buys nothing here). A track becomes a *visit* only after it has been
seen in `min_frames` frames over at least `min_seconds` (passers-by are not customers),
and ends after `max_gap_seconds` without a match. Times are the frames' timestamps, so
the same clip gives the same visits whatever speed the machine runs at. A live camera's
timestamps are the wall clock (what is stored), which can step back (NTP, a wrong clock at
boot): its frames also carry a monotonic time (`now`), and only that decides when a track
is old or a visit long enough, so a step never leaves a track that cannot end.

Each track keeps its box's velocity (constant-velocity model, smoothed over detections):
faces are matched against where their tracks are predicted to be, and between detections
(cafe_monitor.work_planner) `predict` carries each face along its motion rather than
freezing its box. An observation without probabilities (a face detected but not
classified on that frame) moves its track and counts as a frame seen, not in the mix;
so does a carried frame (`predict`): a visit's `frames` are the frames it was in view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cafe_monitor.domain import CAMERA_LOST_SECONDS, CLASSES, Box
from cafe_monitor.limits import bounded
from cafe_monitor.work_planner import TrackView

Probabilities = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TrackerConfig:
    """Visits: which face in this frame is which customer, and when a visit counts and ends."""

    iou_threshold: float = bounded(0.25, 0, 1, low_open=True,
                                   help="how much a face's box must overlap its box in the last frame to be the "
                                        "same customer")
    min_frames: int = bounded(5, 1, 10_000, help="a visit needs this many frames (passers-by do not count)")
    min_seconds: float = bounded(0.5, 0, 3600, help="... and this many seconds in view")
    max_gap_seconds: float = bounded(2.0, 0, 3600, low_open=True,
                                     help="a face unseen this long has left: its visit ends")
    smoothing: float = bounded(0.3, 0, 1, low_open=True,
                               help="how fast the live mood shown on a face follows each frame (1 = no smoothing)")


@dataclass(frozen=True)
class Observation:
    """One classified face in one frame."""

    box: Box
    score: float  # detector confidence
    probabilities: Probabilities | None  # None: detected, not classified on this frame
    quality: float  # 0..1 weight of this frame in the visit's mean


@dataclass(frozen=True)
class Visit:
    """A customer's continuous presence; what scoring and storage consume."""

    id: int
    first_seen: float
    last_seen: float
    frames: int
    distribution: Probabilities  # mean of its readings, each weighted by its quality and the time it stands for
    weight: float  # sum of the readings' qualities (0 if every frame was unusable)

    @property
    def duration(self) -> float:
        return self.last_seen - self.first_seen

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "first_seen": round(self.first_seen, 3),
            "last_seen": round(self.last_seen, 3),
            "frames": self.frames,
            "distribution": {c: round(float(p), 4) for c, p in zip(CLASSES, self.distribution, strict=True)},
        }


@dataclass(frozen=True)
class TrackedFace:
    """A face in the current frame with its identity; what the dashboard draws."""

    track_id: int
    visit_id: int | None  # None while still a possible passer-by
    box: Box
    probabilities: Probabilities  # this frame
    smoothed: Probabilities  # EMA over the track, for a steady label


@dataclass
class _Track:
    id: int
    box: Box
    first_seen: float
    last_seen: float
    frames: int = 0
    weight: float = 0.0
    weighted_sum: Probabilities = field(default_factory=lambda: np.zeros(len(CLASSES), np.float32))
    timed_weight: float = 0.0  # quality x seconds, of every reading but the last
    timed_sum: Probabilities = field(default_factory=lambda: np.zeros(len(CLASSES), np.float32))
    last_quality: float = 0.0
    smoothed: Probabilities = field(default_factory=lambda: np.full(len(CLASSES), 1 / len(CLASSES), np.float32))
    visit_id: int | None = None
    velocity: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(4))  # px/s of x1, y1, x2, y2
    readings: int = 0
    last_reading: float | None = None
    last_probabilities: Probabilities | None = None
    first_tick: float = 0.0  # monotonic times of the first and last match: for age, never stored
    last_tick: float = 0.0

    def add(self, obs: Observation, timestamp: float, alpha: float, now: float) -> None:
        if self.frames and timestamp > self.last_seen:
            step = (_coords(obs.box) - _coords(self.box)) / (timestamp - self.last_seen)
            self.velocity = step if self.frames == 1 else VELOCITY_SMOOTHING * step + (
                1 - VELOCITY_SMOOTHING) * self.velocity
        self.box, self.last_seen, self.last_tick = obs.box, timestamp, now
        self.frames += 1
        if obs.probabilities is None:
            return
        if self.last_probabilities is not None:  # the previous reading stood until now
            span = self._last_reading_span(timestamp)
            self.timed_weight += span
            self.timed_sum += span * self.last_probabilities
        self.readings += 1
        self.last_reading, self.last_probabilities, self.last_quality = timestamp, obs.probabilities, obs.quality
        self.weight += obs.quality
        self.weighted_sum += obs.quality * obs.probabilities
        self.smoothed = obs.probabilities.copy() if self.readings == 1 else (
            (1 - alpha) * self.smoothed + alpha * obs.probabilities).astype(np.float32)

    def _last_reading_span(self, until: float) -> float:
        """Quality x seconds the last reading stands for, up to `until` (the next reading, or
        the visit's end)."""
        if self.last_reading is None:
            return 0.0
        return min(max(0.0, until - self.last_reading), MAX_READING_SECONDS) * self.last_quality

    def predicted(self, timestamp: float) -> Box:
        """Where the box is expected at `timestamp` (its last box moved at its velocity, for at
        most MAX_PREDICTION_SECONDS: a face lost for longer is not extrapolated further)."""
        dt = min(max(0.0, timestamp - self.last_seen), MAX_PREDICTION_SECONDS)
        if dt == 0.0 or not self.velocity.any():
            return self.box
        return Box(*(float(v) for v in _coords(self.box) + self.velocity * dt))

    def motion(self, timestamp: float) -> float:
        """Predicted displacement since the last detection, in box widths."""
        dt = min(max(0.0, timestamp - self.last_seen), MAX_PREDICTION_SECONDS)
        return float(np.abs(self.velocity).max() * dt / max(1.0, self.box.width))

    def visit(self) -> Visit:
        """Its mix is a share of its time, not of its readings: a reading stands for the time until
        the next one (at most MAX_READING_SECONDS), so the dense readings of a face's first
        moments (the planner reads an entering face on every detection) count no more than
        the sparse ones of a steady face, as they would if every frame were read."""
        assert self.visit_id is not None
        timed_weight, timed_sum = self.timed_weight, self.timed_sum
        if self.last_probabilities is not None:
            span = self._last_reading_span(self.last_seen)
            timed_weight, timed_sum = timed_weight + span, timed_sum + span * self.last_probabilities
        if timed_weight > 0:
            dist = timed_sum / timed_weight
        else:  # readings at one instant only
            dist = self.weighted_sum / self.weight if self.weight > 0 else self.smoothed
        return Visit(self.visit_id, self.first_seen, self.last_seen, self.frames, dist.astype(np.float32), self.weight)


#: how much each new detection's velocity counts against the track's (jittery boxes average out)
VELOCITY_SMOOTHING = 0.5
MAX_PREDICTION_SECONDS = 0.5
#: a reading stands for the time until the next one, at most this long (a face unread for
#: longer, lost or turned away, is not assumed to have kept its last expression)
MAX_READING_SECONDS = 0.5


def _coords(box: Box) -> npt.NDArray[np.float64]:
    return np.array([box.x1, box.y1, box.x2, box.y2], np.float64)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def match(tracks: Sequence[Box], detections: Sequence[Box], threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by descending IoU; pairs (track index, detection index)."""
    pairs = sorted(
        ((iou(t, d), ti, di) for ti, t in enumerate(tracks) for di, d in enumerate(detections)),
        reverse=True,
    )
    used_t: set[int] = set()
    used_d: set[int] = set()
    out = []
    for score, ti, di in pairs:
        if score < threshold:
            break
        if ti not in used_t and di not in used_d:
            used_t.add(ti)
            used_d.add(di)
            out.append((ti, di))
    return out


class VisitTracker:
    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_track = 1
        self._next_visit = 1
        self._updated: float | None = None  # monotonic time (`now`) of the last update (detection frame)

    def match_ids(self, boxes: Sequence[Box], timestamp: float) -> list[int | None]:
        """Which track each box would join at `timestamp` (None: a new track); what `update`
        will do with the same boxes."""
        pairs = match([t.predicted(timestamp) for t in self._tracks], boxes, self.config.iou_threshold)
        ids: list[int | None] = [None] * len(boxes)
        for ti, di in pairs:
            ids[di] = self._tracks[ti].id
        return ids

    def views(self, timestamp: float) -> list[TrackView]:
        """The faces seen at the last detection, as the work planner sees them at `timestamp`."""
        return [TrackView(t.id, t.visit_id is not None, t.readings, t.last_reading, t.motion(timestamp))
                for t in self._tracks if t.last_tick == self._updated]

    def predict(self, timestamp: float) -> list[TrackedFace]:
        """A frame between detections: the faces seen at the last detection, each at its
        predicted box, with its latest reading. The frame counts in their visits' `frames`
        (frames in view, carried or detected); nothing else is counted, nothing ended."""
        shown = [t for t in self._tracks if t.last_tick == self._updated]
        for t in shown:
            t.frames += 1
        return [TrackedFace(t.id, t.visit_id, t.predicted(timestamp), _latest(t), t.smoothed) for t in shown]

    def update(self, observations: Sequence[Observation], timestamp: float,
               now: float | None = None) -> tuple[list[TrackedFace], list[Visit]]:
        """Assign this frame's faces to tracks; return the tracked faces and the visits
        that ended (gone for longer than max_gap_seconds). `now`: a monotonic time of the
        frame (a live camera's); by default its timestamp (a file's media time)."""
        cfg = self.config
        now = timestamp if now is None else now
        # no frame at all for CAMERA_LOST_SECONDS (a camera that died and came back): the faces seen
        # before end first, so a face at the same place is a new visit, not the old one stretched
        # over the outage; a shorter stutter (a busy machine) keeps matching them
        blind = self._updated is not None and now - self._updated > CAMERA_LOST_SECONDS
        self._updated = now
        ended = self._tracks if blind else []
        self._tracks = [] if blind else self._tracks
        pairs = match([t.predicted(timestamp) for t in self._tracks], [o.box for o in observations],
                      cfg.iou_threshold)
        matched_obs = {di for _, di in pairs}
        for ti, di in pairs:
            self._tracks[ti].add(observations[di], timestamp, cfg.smoothing, now)
        for di, obs in enumerate(observations):
            if di not in matched_obs:
                track = _Track(self._next_track, obs.box, timestamp, timestamp, first_tick=now, last_tick=now)
                self._next_track += 1
                track.add(obs, timestamp, cfg.smoothing, now)
                self._tracks.append(track)
        faces: list[TrackedFace] = []
        for t in self._tracks:
            if t.visit_id is None and t.frames >= cfg.min_frames and t.last_tick - t.first_tick >= cfg.min_seconds:
                t.visit_id = self._next_visit
                self._next_visit += 1
        obs_by_track = {self._tracks[ti].id: observations[di] for ti, di in pairs}
        for t in self._tracks:
            if t.last_tick == now:
                seen = obs_by_track.get(t.id)
                probs = seen.probabilities if seen is not None and seen.probabilities is not None else _latest(t)
                faces.append(TrackedFace(t.id, t.visit_id, t.box, probs, t.smoothed))
        gone = [t for t in self._tracks if now - t.last_tick > cfg.max_gap_seconds]
        self._tracks = [t for t in self._tracks if t not in gone]
        return faces, [t.visit() for t in ended + gone if t.visit_id is not None]

    def open_visits(self) -> list[Visit]:
        """Visits still in progress (for live scores)."""
        return [t.visit() for t in self._tracks if t.visit_id is not None]

    def close_all(self) -> list[Visit]:
        """End of session: every confirmed track becomes a finished visit."""
        visits = self.open_visits()
        self._tracks = []
        self._updated = None
        return visits


def _latest(track: _Track) -> Probabilities:
    return track.last_probabilities if track.last_probabilities is not None else track.smoothed
