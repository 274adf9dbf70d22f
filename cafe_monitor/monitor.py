"""Several cameras at once: up to four sources, each its own session, one classifier.

Design: one `MonitorSession` per camera (its own source, MediaPipe detector and tracker,
whose state is per stream), all sharing one `EmotionClassifier`, driven by one rotation
(cafe_monitor.scheduler.RoundRobin): two workers take the cameras in turn, newest frame
only, never the same camera twice at once. Why a rotation rather than a thread per camera:

- measured on a 2-core machine with four 1280x720 cameras at 30 fps (docs/benchmarks.md,
  "Several cameras"), the rotation with two workers processed 28.3-28.8 frames/s per
  camera with 5% dropped, a thread per camera 20.9-24.3 with 25% dropped: four threads
  contend for two cores and the OS shares them unevenly; two workers keep both cores busy
  (MediaPipe and ONNX Runtime release the GIL) and the turns keep the cameras even;
- it knows each camera's recent processed and dropped rates, so the monitor can say when
  the machine is too slow (`Monitor.shortfall()`), instead of silently dropping frames;
- a live camera's `LatestFrameSlot` keeps only its newest frame, so under overload each
  camera drops stale frames instead of lagging.

Each camera records through the same steps as a single session (`MonitorSession.begin`,
`process`, `finish`), so one camera, four cameras and the dashboard can never store
differently. A camera that fails (its database refuses it, a bug) or whose source ends
is finished alone; the others go on. A camera or stream not there yet (enumerated late)
is waited for by its own capture, which opens it when it appears, while the others record.

Faces of several cameras are not batched into one classifier call: measured on this
class of machine with the default int8 cascade, four faces cost 2.5 ms as four calls and
1.5 ms as one, i.e. ~1 ms saved per four frames that take ~45 ms to detect; not worth
making the cameras wait for each other.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cafe_monitor import scheduler
from cafe_monitor.capture import RATE_WINDOW_SECONDS, Frame, SourceError
from cafe_monitor.classification import EmotionClassifier
from cafe_monitor.config import ConfigError, Settings
from cafe_monitor.redact import redact_url
from cafe_monitor.scheduler import Feed, RoundRobin
from cafe_monitor.scoring import Score, score_visits
from cafe_monitor.session import LiveState, MonitorSession, SessionResult, build_classifier, build_pipeline

log = logging.getLogger(__name__)

#: more would not fit the detector budget of a 2-core machine (docs/benchmarks.md)
MAX_CAMERAS = 4
#: the rotation's workers: one per core of the machines it is made for (2 cores, no GPU)
WORKERS = 2
_NAME = re.compile(r"^[\w-]+$")  # a camera name in NAME=SOURCE: letters, digits, '_' and '-'


@dataclass(frozen=True)
class CameraPlan:
    """One camera to run: the name its session is stored under, and its source."""

    name: str
    source: str


def split_source(text: str) -> tuple[str | None, str]:
    """'NAME=SOURCE' -> (NAME, SOURCE); a plain source (a URL's '=' included) -> (None, text)."""
    name, sep, source = text.partition("=")
    if sep and _NAME.match(name) and source:
        return name, source
    return None, text


def plan_cameras(settings: Settings, sources: Sequence[str] = ()) -> list[CameraPlan]:
    """Which cameras to run, under which names.

    `sources` are `--source` values: 'NAME=SOURCE' or a plain source, named after the
    `[cameras.<name>]` table whose source it is, else the default camera name
    (`[storage] camera_name`) for the first and 'camera-2', 'camera-3', ... for the
    others. Without sources: the `[cameras.*]` tables that set a source, else the
    default camera (`[camera] source`)."""
    if not sources:
        configured = [CameraPlan(name, cam.source) for name, cam in settings.cameras.items() if cam.source]
        plans = configured or [CameraPlan(settings.storage.camera_name, settings.camera.source)]
    else:
        plans = []
        by_source = {cam.source: name for name, cam in settings.cameras.items() if cam.source}
        named = [split_source(s) for s in sources]
        taken = {n for n, _ in named if n is not None}
        for i, (name, source) in enumerate(named):
            if name is None:
                candidates = [by_source.get(source), settings.storage.camera_name if i == 0 else None,
                              *(f"camera-{k}" for k in range(max(i + 1, 2), 3 + MAX_CAMERAS))]
                name = next(c for c in candidates if c is not None and c not in taken)
                taken.add(name)
            plans.append(CameraPlan(name, source))
    if len(plans) > MAX_CAMERAS:
        raise ConfigError(f"at most {MAX_CAMERAS} sources at once, got {len(plans)}")
    names = [p.name for p in plans]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"two sources named {twice[0]!r}: give each its own name (--source NAME=SOURCE)")
    return plans


def camera_settings(settings: Settings, name: str) -> Settings:
    """The settings one camera's session runs with: stored under its name, so it watches
    its own customer area (`settings.profile(name).area`: its `[cameras.<name>]` table's)."""
    return dataclasses.replace(settings, storage=dataclasses.replace(settings.storage, camera_name=name))


@dataclass
class CameraRun:
    """How one camera's session ended: its result, or the error that ended it."""

    name: str
    source: str
    result: SessionResult | None = None
    error: BaseException | None = None

    def as_dict(self) -> dict[str, object]:
        """The single-camera summary, plus the camera's name (and its error, if any)."""
        if self.result is None:
            return {"camera_name": self.name, "source": redact_url(self.source), "error": str(self.error)}
        return {"camera_name": self.name, **self.result.as_dict()}


def combined_score(runs: Sequence[CameraRun], settings: Settings) -> Score:
    """The score of every camera's visits together (the same formula as one camera's)."""
    return score_visits([v.distribution for r in runs if r.result is not None for v in r.result.visits],
                        settings.score.to_config())


class Monitor:
    """Runs up to four cameras' sessions at once; `stop()` from any thread ends them all."""

    def __init__(self, settings: Settings, plans: Sequence[CameraPlan], *, model: Path | None = None,
                 db_url: str | None = None, store: bool = True, realtime: bool = False, loop: bool | None = None,
                 classifier: EmotionClassifier | None = None, workers: int = WORKERS) -> None:
        if not 1 <= len(plans) <= MAX_CAMERAS:
            raise ConfigError(f"between 1 and {MAX_CAMERAS} sources at once, got {len(plans)}")
        self.plans = list(plans)
        self.workers = workers
        self.classifier = classifier or build_classifier(settings, model)
        self.sessions: list[MonitorSession] = []
        #: the rotation of the current (or last) run; its rates say whether the machine keeps up
        self.rotation: RoundRobin | None = None
        self._stop = threading.Event()
        try:
            for plan in self.plans:  # one at a time: the first opens (and migrates) the database
                own = camera_settings(settings, plan.name)
                self.sessions.append(MonitorSession(
                    own, source=plan.source, db_url=db_url, store=store, realtime=realtime, loop=loop,
                    pipeline=build_pipeline(own, classifier=self.classifier)))
        except BaseException:
            self.close()
            raise

    def stop(self) -> None:
        """End every camera's session (also before `run`: it then ends at once)."""
        self._stop.set()
        for session in self.sessions:
            session.stop()

    def open(self) -> None:
        """Open every source before any session starts, so a bad file fails the whole run
        with its name and no camera leaves rows behind; the ones opened are released. A
        camera or stream not there yet is no error: its capture keeps trying."""
        opened: list[MonitorSession] = []
        for plan, session in zip(self.plans, self.sessions, strict=True):
            try:
                session.open_source()
            except SourceError as exc:
                for other in opened:
                    other.capture.close()
                raise SourceError(f"camera {plan.name!r}: {exc}" if len(self.plans) > 1 else str(exc)) from exc
            opened.append(session)

    def run(self, on_state: Callable[[str, LiveState], None] | None = None,
            max_seconds: float | None = None) -> list[CameraRun]:
        """Run every camera until its source ends, `stop()` or `max_seconds`; one
        `CameraRun` per camera, in plan order. A camera that fails (its database refuses,
        a bug) ends alone; the others run on."""
        self.open()
        runs = [CameraRun(p.name, p.source) for p in self.plans]
        begun: list[tuple[CameraRun, MonitorSession]] = []
        for run, session in zip(runs, self.sessions, strict=True):
            state_cb = (lambda state, name=run.name: on_state(name, state)) if on_state is not None else None
            try:
                session.begin(state_cb)
            except Exception as exc:  # e.g. the database refuses this camera (CounterBusyError)
                _failed(run, exc)
                session.capture.close()
                continue
            begun.append((run, session))
        finished: set[str] = set()
        lock = threading.Lock()

        def finish(run: CameraRun, session: MonitorSession) -> None:
            with lock:
                if run.name in finished:
                    return
                finished.add(run.name)
            try:
                result = session.finish(failed=run.error is not None)
            except Exception as exc:
                if run.error is None:
                    _failed(run, exc)
                return
            if run.error is None:
                run.result = result

        self.rotation = RoundRobin([self._feed(run, session, finish) for run, session in begun])
        try:
            if begun:
                for _, session in begun:
                    session.capture.start()
                self.rotation.run(should_stop=self._stop.is_set, max_seconds=max_seconds,
                                  workers=max(1, min(self.workers, len(begun))))
        finally:
            for run, session in begun:  # stopped, or max_seconds: the sessions still open end here
                finish(run, session)
        return runs

    def _feed(self, run: CameraRun, session: MonitorSession,
              finish: Callable[[CameraRun, MonitorSession], None]) -> Feed:
        """One camera in the rotation: its frames go through its session; an error ends it
        alone (its source is stopped, its session finished as interrupted)."""

        def process(frame: Frame) -> None:
            if run.error is not None:  # failed: the frames still in flight are not processed
                return
            try:
                session.process(frame)
            except Exception as exc:
                _failed(run, exc)
                session.capture.stop()

        feed = Feed.of_capture(run.name, session.capture, process)
        feed.on_end = lambda: finish(run, session)
        return feed

    def shortfall(self) -> str | None:
        """'machine too slow: each camera processed at N of M frames/s' while the cameras
        are not all processed at the rate they deliver, over the last few seconds (after a
        run: its last few seconds); None while keeping up."""
        rotation = self.rotation
        return scheduler.shortfall(rotation.rates(window=RATE_WINDOW_SECONDS)) if rotation is not None else None

    def close(self) -> None:
        for session in self.sessions:
            session.pipeline.close()


def _failed(run: CameraRun, exc: BaseException) -> None:
    """Note why a camera ended; a bug (not a user, OS or database error) is logged in full."""
    if not isinstance(exc, (OSError, RuntimeError, ValueError)):
        log.exception("camera %r failed", run.name, exc_info=exc)
    run.error = exc

