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
from sqlalchemy.exc import OperationalError

from cafe_monitor import storage
from cafe_monitor.cameras import opener_for
from cafe_monitor.capture import CameraState, CaptureThread, Frame, RateMeter
from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.clock import Clock
from cafe_monitor.config import Settings
from cafe_monitor.detection import FaceDetector
from cafe_monitor.domain import CLASSES, Box
from cafe_monitor.paths import data_dir, default_db_url, resolve_model
from cafe_monitor.pipeline import FrameResult, Pipeline, RunStats
from cafe_monitor.retry import RetryNote, RetryPolicy, keep_trying
from cafe_monitor.scoring import LiveScore, Score, ScoreSums, score_visits
from cafe_monitor.site_clock import site_clock
from cafe_monitor.tracking import TrackedFace, Visit, VisitTracker
from cafe_monitor.work_planner import PlannerConfig, WorkPlanner

log = logging.getLogger(__name__)

#: open visits are handed to the writer this often; it commits about once a second, so a
#: crash loses at most ~1.25 s of an open visit (plus the frame in flight)
CHECKPOINT_SECONDS = 0.25
#: with no new frame, the status is still published this often (a silent camera shows as silent)
PUBLISH_SECONDS = 0.25


@dataclass
class LiveState:
    """What the dashboard shows of a session: a snapshot, safe to hand across threads.

    Published after each processed frame and on a timer in between; `frame` and `faces`
    are the newest processed frame's (the same frame again while the camera is silent)."""

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
    boxes: list[Box] = field(default_factory=list)  # every detected face, for the preview's blur
    sums: ScoreSums | None = None  # the score's running sums: a multi-camera gauge adds them up
    frame_age: float | None = None  # seconds since the camera's newest frame; None before the first
    #: what the session waits for: "database not reachable, retrying in 8 s", "camera 0 not found, ..."
    problem: str | None = None


class SessionStatus:
    """The latest of everything shown about one session, apart from frames.

    The pipeline thread reports each processed frame (`frame_done`); the camera's state,
    input fps and dropped frames are read from the capture when a `snapshot()` is taken,
    so a snapshot taken while no frame comes still tells the truth (stalled, fps falling).
    Any thread may take snapshots; each session has its own, so several run side by side.
    Rates, waits and the publisher's timer go by `clock`, the capture's unless given."""

    def __init__(self, capture: CaptureThread, provider: str, score: Score, clock: Clock | None = None) -> None:
        self.capture = capture
        self.clock: Clock = clock or capture.clock
        clock = self.clock
        self.provider = provider
        self.session_id: int | None = None
        self.writer: storage.SessionWriter | None = None
        self._lock = threading.Lock()
        self._processing = RateMeter(clock=clock)
        self._result: FrameResult | None = None
        self._frame: Frame | None = None
        self._score = score
        self._mix: dict[str, float] = {c: 0.0 for c in CLASSES}
        self._visits_done = 0
        self._sums: ScoreSums | None = None
        self._new_frame = threading.Event()
        #: the database being waited for (the camera's own wait is read from the capture)
        self.waiting = RetryNote(clock)

    def begin(self, session_id: int | None, writer: storage.SessionWriter | None, score: Score) -> None:
        """A run starts: its row, writer and empty score; fps counts from now."""
        with self._lock:
            self.session_id, self.writer, self._score = session_id, writer, score
        self._processing.restart()

    def frame_done(self, result: FrameResult, *, score: Score, recent_mix: dict[str, float],
                   visits_done: int, sums: ScoreSums | None = None) -> None:
        """A frame went through the pipeline (called from the pipeline's thread)."""
        frame = Frame(result.image, result.index, result.timestamp)
        with self._lock:
            self._result, self._frame = result, frame
            self._score, self._mix, self._visits_done, self._sums = score, recent_mix, visits_done, sums
        self._processing.tick()
        self._new_frame.set()

    def scored(self, score: Score, sums: ScoreSums, visits_done: int) -> None:
        """The score changed without a frame: the visits still open closed at the end."""
        with self._lock:
            self._score, self._sums, self._visits_done = score, sums, visits_done

    def wait_for_frame(self, timeout: float) -> bool:
        """Block until a frame is reported (True) or `timeout` passes (False)."""
        got = self.clock.wait(self._new_frame, timeout)
        self._new_frame.clear()
        return got

    def wake(self) -> None:
        self._new_frame.set()

    @property
    def processing_fps(self) -> float:
        return self._processing.rate()

    def snapshot(self) -> LiveState:
        capture, writer = self.capture, self.writer
        with self._lock:
            result = self._result
            return LiveState(
                frame=self._frame, faces=result.faces if result is not None else [], score=self._score,
                camera=capture.state,
                input_fps=capture.input_fps, processing_fps=self._processing.rate(), dropped=capture.slot.dropped,
                provider=self.provider, recent_mix=dict(self._mix), visits_done=self._visits_done,
                session_id=self.session_id, db_error=writer.last_error if writer is not None else None,
                frame_age=capture.seconds_since_frame(), problem=self.waiting.text() or capture.retry_note(),
                boxes=list(result.boxes) if result is not None else [], sums=self._sums)


class StatusPublisher(threading.Thread):
    """Hands `on_state` a snapshot after each processed frame and at least every
    `interval` seconds while none comes; `stop()` ends it with one last snapshot.

    A session's `on_state` calls come one at a time: from this thread, and the last one
    from the thread that stops it (the session's, or the multi-camera rotation's worker)."""

    def __init__(self, status: SessionStatus, on_state: Callable[[LiveState], None],
                 interval: float = PUBLISH_SECONDS, name: str = "status") -> None:
        super().__init__(name=name, daemon=True)
        self.status = status
        self.on_state = on_state
        self.interval = interval
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.status.wait_for_frame(self.interval)
            if self._halt.is_set():
                break
            self._publish()

    def stop(self) -> None:
        """Stop publishing; the last snapshot (the session's final state) is published
        from the calling thread after the timer's last one."""
        self._halt.set()
        self.status.wake()
        if self.is_alive():
            self.join()
        self._publish()

    def _publish(self) -> None:
        try:
            self.on_state(self.status.snapshot())
        except Exception:  # a failing display must not stop the status (or the session)
            log.exception("publishing the session status failed")


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


def build_classifier(settings: Settings, model: Path | None = None) -> EmotionClassifier:
    return EmotionClassifier(resolve_model(model or settings.classifier.model), cpu_only=settings.classifier.cpu_only,
                             precision=settings.classifier.precision)


def build_pipeline(settings: Settings, model: Path | None = None,
                   classifier: EmotionClassifier | None = None) -> Pipeline:
    """A pipeline of its own (detector, tracker); `classifier` shares one model between cameras."""
    classifier = classifier or build_classifier(settings, model)
    detector = FaceDetector(settings.detector.model, settings.detector.min_score)
    return Pipeline(detector, classifier, tracker=VisitTracker(settings.tracker),
                    region=settings.profile(settings.storage.camera_name).area,  # this camera's customer area
                    quality=settings.quality, planner=build_planner(settings))


def build_planner(settings: Settings) -> WorkPlanner:
    """A camera's work planner from `[detector]` and `[classifier]` (issue 24)."""
    detector, classifier = settings.detector, settings.classifier
    return WorkPlanner(PlannerConfig(max_stride=detector.every_n_frames, budget_ms=detector.budget_ms,
                                     readings_per_second=classifier.readings_per_second,
                                     min_readings=classifier.min_readings))


def database_down(exc: BaseException) -> str | None:
    """A database worth waiting for (not reachable, not up yet, locked): "database not
    reachable"; anything else (a malformed URL, a damaged file, another counter) is not."""
    if isinstance(exc, (storage.DatabaseUnavailable, OperationalError)):
        return "database not reachable"
    return None


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
    """Records one session; `stop()` from any thread ends it cleanly.

    Its steps are public so a loop serving several cameras (cafe_monitor.monitor) records
    exactly as one camera does: `begin()` (the session's row, writer and status), then
    `process(frame)` per frame, then `finish()`. `run()` is those steps around a loop of
    its own over this session's source."""

    def __init__(self, settings: Settings, *, source: str | None = None, model: Path | None = None,
                 db_url: str | None = None, store: bool = True, realtime: bool = False,
                 loop: bool | None = None, pipeline: Pipeline | None = None,
                 capture: CaptureThread | None = None, retry: RetryPolicy = RetryPolicy()) -> None:
        self.settings = settings
        self.source = source if source is not None else settings.camera.source
        self.pipeline = pipeline or build_pipeline(settings, model)
        self.capture = capture or CaptureThread(
            self.source, loop=settings.camera.loop if loop is None else loop, realtime=realtime,
            opener=opener_for(settings, self.source))  # the camera's saved size and frame rate
        self.db_url = db_url or settings.storage.url or default_db_url()
        self.store = store
        #: waits between attempts to reach a database that is not there yet (opened in `begin`)
        self.retry = retry
        self._stop = threading.Event()
        self.engine: storage.Engine | None = None
        self.session_id: int | None = None
        self.writer: storage.SessionWriter | None = None
        self._opened = False
        #: checkpoints, the live score's refresh and the status's timer go by the capture's clock
        self.clock = self.capture.clock
        #: the session's latest status; `status.snapshot()` works from any thread while it runs
        self.status = SessionStatus(self.capture, self.pipeline.classifier.engine,
                                    score_visits([], settings.score.to_config()))
        # what one run records, (re)set by `begin`
        self._score_cfg = settings.score.to_config()
        self._aggregator: storage.TimelineAggregator | None = None
        self._publisher: StatusPublisher | None = None
        self._stats = RunStats()
        self._started = time.monotonic()
        self._done: list[Visit] = []  # visits ended during the run
        self._mix = RecentMix()
        self._live = LiveScore(self._score_cfg)
        self._live_score = score_visits([], self._score_cfg)
        self._live_sums = ScoreSums()
        self._last_timestamp: float | None = None
        self._scored_at = -1.0
        self._checkpointed_at = self.clock()

    def open_source(self) -> None:
        """Open the source (once); a missing camera/file fails here, before any row is written."""
        if not self._opened:
            self.capture.open_or_raise()
            self._opened = True

    def stop(self) -> None:
        self._stop.set()

    def run(self, on_state: Callable[[LiveState], None] | None = None,
            max_seconds: float | None = None) -> SessionResult:
        """Record until the source ends, `stop()` or `max_seconds`."""
        self.begin(on_state)
        failed = True
        try:
            if not self.capture.is_alive():
                self.capture.start()
            started = time.monotonic()
            while not self._stop.is_set():
                if max_seconds is not None and time.monotonic() - started >= max_seconds:
                    break
                frame = self.capture.slot.get(timeout=0.25)
                if frame is None:
                    if self.capture.finished:
                        break
                    continue
                try:
                    self.process(frame)
                finally:
                    self.capture.frame_taken()  # a file read without pacing waits for this
            failed = False
        finally:
            result = self.finish(failed=failed)
        return result

    def begin(self, on_state: Callable[[LiveState], None] | None = None) -> None:
        """Start recording: open the source (if not yet), write the session's row, start its
        writer and, with `on_state`, its status publisher. The source is not started: `run`
        (or the loop that calls `process`) starts it."""
        self.open_source()
        origin = time.time() if not self.capture.live else 0.0
        self._aggregator = None
        self.status.begin(None, None, self._live_score)
        # published while the database is waited for, so the wait is seen ("retrying in 8 s")
        self._publisher = StatusPublisher(self.status, on_state) if on_state is not None else None
        if self._publisher is not None:
            self._publisher.start()
        try:
            if self.store:
                self.session_id = keep_trying(lambda: self._start_row(origin), transient=database_down,
                                              wait=self._stop.wait, policy=self.retry, on_retry=self.status.waiting.set)
        except BaseException:
            if self._publisher is not None:
                self._publisher.stop()
            self.capture.close()
            raise
        if self.engine is not None and self.session_id is not None:
            self.writer = storage.SessionWriter(self.engine, self.session_id, origin=origin, rescue_dir=data_dir())
            self.writer.start()
            self._aggregator = storage.TimelineAggregator(self.writer.to_datetime)
        self._stats, self._done, self._mix = RunStats(), [], RecentMix()
        self._live = LiveScore(self._score_cfg)  # running sums: a reading costs the same at 10 or 10,000 visits
        self._live_score, self._live_sums = score_visits([], self._score_cfg), ScoreSums()
        self._last_timestamp, self._scored_at = None, -1.0
        self._checkpointed_at = self.clock()
        self.status.begin(self.session_id, self.writer, self._live_score)
        self._started = time.monotonic()

    def _start_row(self, origin: float) -> int:
        """Open the database (once), close this counter's crashed sessions, apply retention
        and write this session's row; a database not there yet raises DatabaseUnavailable."""
        if self.engine is None:
            self.engine = storage.open_database(self.db_url)
        classifier, site, privacy = self.pipeline.classifier, self.settings.storage.site, self.settings.privacy
        storage.mark_interrupted(self.engine, site, self.settings.storage.camera_name)  # or CounterBusyError
        storage.prune(self.engine, site, timeline_days=privacy.retention_days, visit_days=privacy.visit_retention_days,
                      clock=site_clock(self.engine, site, self.settings.storage.clock()))
        return storage.start_session(
            self.engine, source=str(self.source), site=site,
            camera=self.settings.storage.camera_name, model_name=classifier.card.name,
            model_sha256=classifier.card.sha256, provider=classifier.engine,
            settings=dataclasses.asdict(self.settings.with_named_zone()),  # so other sites' readers know it
            started_at=dt.datetime.fromtimestamp(origin, dt.timezone.utc) if origin else None)

    def process(self, frame: Frame) -> FrameResult:
        """One frame through the pipeline and into the session: rows, checkpoints, live score, status."""
        # a live camera's wall-clock timestamps may step back: its tracks age by the monotonic clock
        if self.capture.live and frame.captured_at:
            result = self.pipeline.process(frame.image, frame.timestamp, frame.index, now=frame.captured_at)
        else:
            result = self.pipeline.process(frame.image, frame.timestamp, frame.index)
        self._stats.add(result)
        self._last_timestamp = result.timestamp
        self._done.extend(result.ended_visits)
        self._live.add([v.distribution for v in result.ended_visits])
        probabilities = [f.probabilities for f in result.faces]
        if self.writer is not None and self._aggregator is not None:
            for v in result.ended_visits:
                self.writer.add_visit(v)
            bucket = self._aggregator.add(result.timestamp, probabilities)
            if bucket is not None:
                self.writer.add_bucket(bucket)
            now = self.clock()
            if now - self._checkpointed_at >= CHECKPOINT_SECONDS:  # a crash keeps open visits up to ~2 s back
                self.writer.checkpoint(self.pipeline.tracker.open_visits())
                self._checkpointed_at = now
        self._mix.add(result.timestamp, probabilities)
        now = self.clock()
        if result.ended_visits or now - self._scored_at >= 1.0:  # open visits' means drift slowly
            self._rescore([v.distribution for v in self.pipeline.tracker.open_visits()])
            self._scored_at = now
        self.status.frame_done(result, score=self._live_score, sums=self._live_sums, recent_mix=self._mix.mix(),
                               visits_done=len(self._done))
        return result

    def finish(self, failed: bool = False) -> SessionResult:
        """End the session: stop the source, close the visits still open, publish the last
        status, flush and close the writer. `failed` (processing raised): the session is
        stored as interrupted, with what was written up to then."""
        self.capture.close(timeout=5)  # begun but never started (no frame taken): released all the same
        self._stats.seconds = time.monotonic() - self._started
        self._stats.dropped = self.capture.slot.dropped
        final: list[Visit] = []
        try:
            if not failed:
                final = self.pipeline.finish()
        except BaseException:  # the session still ends: stored as interrupted, its writer closed
            failed = True
            raise
        finally:
            self._close_recording(final, failed)
        visits = sorted(self._done + final, key=lambda v: v.id)
        score = score_visits([v.distribution for v in visits], self._score_cfg)
        return SessionResult(self.session_id, self._stats, visits, score, self.pipeline.classifier.engine,
                             self.capture.state, list(self.capture.gaps),
                             self.writer.rescue_file if self.writer else None)

    def _rescore(self, open_distributions: list[np.ndarray]) -> None:
        """The live score from the visits ended so far and those `open_distributions`."""
        self._live_sums = self._live.sums(open_distributions)
        self._live_score = self._live_sums.score(self._score_cfg)

    def _close_recording(self, final: list[Visit], failed: bool) -> None:
        """Publish the last status (counting the visits closed at the end: a short clip's may
        all end there), then write the last visits and close the writer."""
        try:
            if final:
                self._live.add([v.distribution for v in final])
                self._rescore([])
                self.status.scored(self._live_score, self._live_sums, len(self._done) + len(final))
            if self._publisher is not None:
                self._publisher.stop()
        finally:
            if self.writer is not None and self._aggregator is not None:
                for v in final:
                    self.writer.add_visit(v)
                bucket = self._aggregator.flush()
                if bucket is not None:
                    self.writer.add_bucket(bucket)
                end = dt.datetime.now(dt.timezone.utc)
                if not self.capture.live and self._last_timestamp is not None:  # a file ran faster than real time
                    end = max(end, self.writer.to_datetime(self._last_timestamp))
                self.writer.close("interrupted" if failed else "ended", end, self.capture.gaps)

