"""One monitoring session: source -> pipeline -> live state + database rows.

Used by both the headless CLI and the dashboard's worker thread, so the two can never
record differently. Everything is built from `Settings`; nothing here touches Qt.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cafe_monitor import storage
from cafe_monitor.cameras import opener_for
from cafe_monitor.capture import CameraState, CaptureThread, Frame
from cafe_monitor.classification import CLASSES, EmotionClassifier
from cafe_monitor.config import Settings
from cafe_monitor.detection import FaceDetector
from cafe_monitor.paths import data_dir, default_db_url, resolve_model
from cafe_monitor.pipeline import FrameResult, Pipeline, RunStats
from cafe_monitor.pipeline import run as run_pipeline
from cafe_monitor.scoring import LiveScore, Score, score_visits
from cafe_monitor.tracking import TrackedFace, Visit, VisitTracker

log = logging.getLogger(__name__)

#: open visits are handed to the writer this often; it commits about once a second, so a
#: crash loses at most ~1.25 s of an open visit (plus the frame in flight)
CHECKPOINT_SECONDS = 0.25


@dataclass
class LiveState:
    """What the dashboard shows after each frame (a snapshot, safe to hand across threads)."""

    frame: Frame | None
    faces: list[TrackedFace]
    score: Score
    camera: CameraState
    input_fps: float
    processing_fps: float
    dropped: int
    provider: str
    recent_mix: dict[str, float]  # mean emotion mix over the last minutes
    visits_done: int
    session_id: int | None
    db_error: str | None = None


@dataclass
class SessionResult:
    session_id: int | None
    stats: RunStats
    visits: list[Visit]
    score: Score
    provider: str
    camera: CameraState
    gaps: list[tuple[float, float]] = field(default_factory=list)
    rescue_file: Path | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "frames": self.stats.frames,
            "frames_with_faces": self.stats.frames_with_faces,
            "max_faces_in_frame": self.stats.max_faces,
            "fps": round(self.stats.fps, 2),
            "dropped_frames": self.stats.dropped,
            "stage_ms": self.stats.mean_stage_ms(),
            "provider": self.provider,
            "camera": self.camera.value,
            "visits": [v.as_dict() for v in self.visits],
            "score": self.score.as_dict(),
        }


def build_pipeline(settings: Settings, model: Path | None = None) -> Pipeline:
    model_path = resolve_model(model or settings.classifier.model)
    classifier = EmotionClassifier(model_path, cpu_only=settings.classifier.cpu_only,
                                   precision=settings.classifier.precision)
    detector = FaceDetector(settings.detector.model, settings.detector.min_score)
    return Pipeline(detector, classifier, tracker=VisitTracker(settings.tracker), region=settings.region,
                    quality=settings.quality)


class RecentMix:
    """Mean emotion mix of the face observations of the last `seconds` (default 5 min).

    Kept as one running sum per second, so a full day at 30 fps costs the same per
    frame as the first minute."""

    def __init__(self, seconds: float = 300.0) -> None:
        self.seconds = seconds
        self._items: deque[tuple[int, np.ndarray, int]] = deque()  # (second, sum of probabilities, faces)
        self._sum = np.zeros(len(CLASSES))
        self._count = 0

    def add(self, timestamp: float, probabilities: list[np.ndarray]) -> None:
        second = int(timestamp)
        if probabilities:
            total = np.sum(probabilities, axis=0)
            if self._items and self._items[-1][0] == second:
                _, s, n = self._items.pop()
                self._items.append((second, s + total, n + len(probabilities)))
            else:
                self._items.append((second, total, len(probabilities)))
            self._sum += total
            self._count += len(probabilities)
        while self._items and self._items[0][0] < timestamp - self.seconds:
            _, s, n = self._items.popleft()
            self._sum -= s
            self._count -= n

    def mix(self) -> dict[str, float]:
        if self._count <= 0:
            return {c: 0.0 for c in CLASSES}
        return {c: float(v) for c, v in zip(CLASSES, self._sum / self._count, strict=True)}


class MonitorSession:
    """Runs one session to its end; `stop()` from any thread ends it cleanly."""

    def __init__(self, settings: Settings, *, source: str | None = None, model: Path | None = None,
                 db_url: str | None = None, store: bool = True, realtime: bool = False,
                 loop: bool | None = None, pipeline: Pipeline | None = None,
                 capture: CaptureThread | None = None) -> None:
        self.settings = settings
        self.source = source if source is not None else settings.camera.source
        self.pipeline = pipeline or build_pipeline(settings, model)
        self.capture = capture or CaptureThread(
            self.source, loop=settings.camera.loop if loop is None else loop, realtime=realtime,
            opener=opener_for(settings, self.source))  # the camera's saved size and frame rate
        self.db_url = db_url or settings.storage.url or default_db_url()
        self.store = store
        self._stop = threading.Event()
        self.engine = storage.open_database(self.db_url) if store else None
        self.session_id: int | None = None
        self.writer: storage.SessionWriter | None = None

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_state: Callable[[LiveState], None] | None = None,
            max_seconds: float | None = None) -> SessionResult:
        self.capture.open_or_raise()  # a missing camera/file fails here, before any row is written
        classifier = self.pipeline.classifier
        origin = time.time() if not self.capture.live else 0.0
        aggregator: storage.TimelineAggregator | None = None
        if self.engine is not None:
            site, privacy = self.settings.storage.site, self.settings.privacy
            storage.mark_interrupted(self.engine, site, self.settings.storage.camera_name)  # or CounterBusyError
            storage.prune(self.engine, site, timeline_days=privacy.retention_days,
                          visit_days=privacy.visit_retention_days)
            self.session_id = storage.start_session(
                self.engine, source=str(self.source), site=self.settings.storage.site,
                camera=self.settings.storage.camera_name, model_name=classifier.card.name,
                model_sha256=classifier.card.sha256, provider=classifier.engine,
                settings=dataclasses.asdict(self.settings.with_named_zone()),  # so other sites' readers know it
                started_at=dt.datetime.fromtimestamp(origin, dt.timezone.utc) if origin else None)
            self.writer = storage.SessionWriter(self.engine, self.session_id, origin=origin, rescue_dir=data_dir())
            self.writer.start()
            aggregator = storage.TimelineAggregator(self.writer.to_datetime)
        score_cfg = self.settings.score.to_config()
        done: list[Visit] = []
        mix = RecentMix()
        started = time.monotonic()
        frames = 0

        last_timestamp: float | None = None
        live_score = score_visits([], score_cfg)
        live = LiveScore(score_cfg)  # running sums: a reading costs the same at 10 or 10,000 visits
        scored_at = -1.0
        checkpointed_at = time.monotonic()

        def on_result(result: FrameResult, capture: CaptureThread) -> None:
            nonlocal frames, last_timestamp, live_score, scored_at, checkpointed_at
            frames += 1
            last_timestamp = result.timestamp
            done.extend(result.ended_visits)
            live.add([v.distribution for v in result.ended_visits])
            probabilities = [f.probabilities for f in result.faces]
            if self.writer is not None and aggregator is not None:
                for v in result.ended_visits:
                    self.writer.add_visit(v)
                bucket = aggregator.add(result.timestamp, probabilities)
                if bucket is not None:
                    self.writer.add_bucket(bucket)
                now = time.monotonic()
                if now - checkpointed_at >= CHECKPOINT_SECONDS:  # a crash keeps open visits up to ~2 s back
                    self.writer.checkpoint(self.pipeline.tracker.open_visits())
                    checkpointed_at = now
            mix.add(result.timestamp, probabilities)
            if on_state is not None:
                now = time.monotonic()
                if result.ended_visits or now - scored_at >= 1.0:  # open visits' means drift slowly
                    open_now = self.pipeline.tracker.open_visits()
                    live_score, scored_at = live.score([v.distribution for v in open_now]), now
                on_state(LiveState(
                    frame=Frame(result.image, result.index, result.timestamp), faces=result.faces,
                    score=live_score, camera=capture.state,
                    input_fps=capture.input_fps, processing_fps=frames / max(time.monotonic() - started, 1e-6),
                    dropped=capture.slot.dropped, provider=classifier.engine, recent_mix=mix.mix(),
                    visits_done=len(done), session_id=self.session_id,
                    db_error=self.writer.last_error if self.writer else None))

        status, final = "interrupted", []
        try:
            stats, visits = run_pipeline(self.pipeline, self.capture, on_result=on_result,
                                             should_stop=self._stop.is_set, max_seconds=max_seconds)
            ended_ids = {v.id for v in done}
            final = [v for v in visits if v.id not in ended_ids]
            status = "ended"
        finally:
            if self.writer is not None and aggregator is not None:
                for v in final:
                    self.writer.add_visit(v)
                bucket = aggregator.flush()
                if bucket is not None:
                    self.writer.add_bucket(bucket)
                end = dt.datetime.now(dt.timezone.utc)
                if not self.capture.live and last_timestamp is not None:  # a file ran faster than real time
                    end = max(end, self.writer.to_datetime(last_timestamp))
                self.writer.close(status, end, self.capture.gaps)
        score = score_visits([v.distribution for v in visits], score_cfg)
        return SessionResult(self.session_id, stats, visits, score, classifier.engine, self.capture.state,
                             list(self.capture.gaps), self.writer.rescue_file if self.writer else None)
