"""Per camera and per frame: detect or carry the faces, and which faces to classify.

A visit's emotion mix needs a few confident readings a second, not thirty, and a face that
has not moved needs no new detection. The planner spends a camera's CPU where the score
needs it:

* **detect** on a frame when it is the first, when `max_stride` frames have passed since the
  last detection (the cap), while a face is *entering* (a track not yet a visit), when a
  face's reading is due, when a face *moves* (its predicted motion since the last detection
  exceeds `max_motion` of its width), or while there is *time left*: every frame earns
  `budget_ms` of credit, every frame's work is paid from it, and a detection nobody asked
  for is made only when the credit covers one (so a fast machine detects on every frame,
  a slow or loaded one, or a camera that dropped frames, carries the faces between);
* between detections the tracker **carries** each face at its constant-velocity prediction;
* **classify** a detected face while it has fewer than `min_readings` readings (every face
  gets at least that many per visit), then at most `readings_per_second` (0: every detection).

The class is pure: time comes in as arguments (the frames' timestamps, for the scene; the
work's measured milliseconds, for the budget), so the same inputs give the same plan and
tests drive it with synthetic tracks and costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: why a frame is detected (or not): shown in stats and tested
FIRST, CAP, ENTERING, READING, MOVING, TIME_LEFT, CARRY = (
    "first", "cap", "entering", "reading due", "moving", "time left", "carry")


@dataclass(frozen=True)
class PlannerConfig:
    max_stride: int = 6  # at most this many frames from one detection to the next (1: every frame)
    budget_ms: float = 2.0  # per frame: what a camera may spend beyond what its faces need
    readings_per_second: float = 5.0  # per steady face; 0 = classify every detection
    min_readings: int = 5  # every face is classified on each detection until it has this many
    max_motion: float = 0.25  # predicted motion (box widths) since the last detection that asks for a new one

    def __post_init__(self) -> None:
        if self.max_stride < 1 or self.budget_ms < 0 or self.readings_per_second < 0 or self.min_readings < 1 \
                or self.max_motion <= 0:
            raise ValueError(f"invalid planner config: {self}")


@dataclass(frozen=True)
class TrackView:
    """What the planner needs to know of one tracked face."""

    track_id: int
    confirmed: bool  # a visit already (False: still entering, possibly a passer-by)
    readings: int  # classifications so far
    last_reading: float | None  # timestamp of the latest one
    motion: float  # predicted displacement since its last detection, in box widths


@dataclass(frozen=True)
class Plan:
    detect: bool
    reason: str


class WorkPlanner:
    """One per camera (its state is that camera's: credit, cost estimate, stride)."""

    def __init__(self, config: PlannerConfig = PlannerConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """A new run: the next frame is detected."""
        self._since_detection: int | None = None  # frames since the last detection (None: none yet)
        self._credit = 0.0
        self._previous: float | None = None  # the last frame's timestamp
        self._interval = 0.0  # between frames (s), smoothed: a reading is due half a frame early
        #: mean measured cost of a detection frame (ms); 0 until one is measured
        self.detect_ms = 0.0

    @property
    def credit_ms(self) -> float:
        return self._credit

    def plan(self, timestamp: float, tracks: Sequence[TrackView], *, behind: bool = False) -> Plan:
        """Detect on this frame or carry its faces. `behind`: frames were dropped before it
        (the loop has no time for this camera): only what the score needs is detected."""
        cfg = self.config
        if self._previous is not None and timestamp > self._previous:
            step = timestamp - self._previous
            self._interval = step if self._interval == 0 else 0.9 * self._interval + 0.1 * step
        self._previous = timestamp
        self._credit = min(self._credit + cfg.budget_ms, self._cap())
        if self._since_detection is not None:
            self._since_detection += 1
        reason = self._reason(timestamp, tracks, behind)
        if reason != CARRY:
            self._since_detection = 0
        return Plan(reason != CARRY, reason)

    def _reason(self, timestamp: float, tracks: Sequence[TrackView], behind: bool) -> str:
        cfg = self.config
        if self._since_detection is None:
            return FIRST
        if self._since_detection >= cfg.max_stride:
            return CAP
        if any(not t.confirmed for t in tracks):
            return ENTERING
        if any(self.wants_reading(t, timestamp) for t in tracks):
            return READING
        if any(t.motion >= cfg.max_motion for t in tracks):
            return MOVING
        if not behind and self._credit > 0 and self._credit >= self.detect_ms:
            return TIME_LEFT
        return CARRY

    def wants_reading(self, track: TrackView | None, timestamp: float, plan: Plan | None = None) -> bool:
        """Classify this detected face now? `track` None: a face just found. A steady face's
        reading is due from half a frame before 1/readings_per_second has passed (so 5/s at
        30 fps is every 6th frame, and at 12.5 fps every 2nd, not every 3rd). On a frame
        detected because some face's reading was due (`plan`), a face at least half due is read
        along: the faces' readings fall on the same detections instead of one each."""
        cfg = self.config
        if track is None or cfg.readings_per_second == 0 or track.readings < cfg.min_readings \
                or track.last_reading is None:
            return True
        share = 0.5 if plan is not None and plan.reason == READING else 1.0
        return timestamp - track.last_reading + self._interval / 2 >= share / cfg.readings_per_second - 1e-6

    def spent(self, work_ms: float, *, detect_ms: float | None = None) -> None:
        """A frame's measured work (all of it), and its detection's cost if it was detected."""
        if detect_ms is not None:
            self.detect_ms = detect_ms if self.detect_ms == 0 else 0.8 * self.detect_ms + 0.2 * detect_ms
        cap = self._cap()
        self._credit = max(-cap, min(cap, self._credit - work_ms))

    def _cap(self) -> float:
        """Credit saved up, or owed, at most: two detections' worth (so the frames after a
        quiet spell are not all detected, and a busy spell is forgotten within a few frames)."""
        return max(self.config.budget_ms, 2 * self.detect_ms)
