from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from cafe_monitor.capture import Frame
    from cafe_monitor.domain import Region
    from cafe_monitor.pipeline import FrameResult, RunStats
    from cafe_monitor.tracking import Visit

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"
SHARED = REPO.parent / "shared"
FER = SHARED / "data" / "fer2013"


# --- skips CI must not take. CI (.ci/run, or any CI that sets CI=true) installs every tool and
# --- extra; there a missing one is a failure, never a silent skip. Only tests marked
# --- `needs_shared` (data outside the repository, ../shared) may skip there, and they are counted.

def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def required(flag: str) -> bool:
    """Whether a missing prerequisite is a failure here: under CI, or with CAFE_MONITOR_REQUIRE_<flag>=1."""
    return in_ci() or os.environ.get(f"CAFE_MONITOR_REQUIRE_{flag}") == "1"


def skip_or_fail(why: str, flag: str) -> None:
    if required(flag):
        pytest.fail(f"{why} (required here: CI or CAFE_MONITOR_REQUIRE_{flag}=1)", pytrace=False)
    pytest.skip(why)


def need_module(name: str) -> ModuleType:
    """An optional extra's module (torch, onnx: `training` in scripts/setup.sh): skipped without
    it on a developer's machine, an import error under CI or CAFE_MONITOR_REQUIRE_TRAINING=1."""
    if required("TRAINING"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


def need_tool(command: str, package: str) -> str:
    """A command-line tool from a Debian package that scripts/test.sh installs; its path."""
    path = shutil.which(command)
    if path is None:
        skip_or_fail(f"{command} not installed (apt-get install {package}; scripts/test.sh does)", "TOOLS")
    assert path is not None
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # FER2013 is in ../shared: a test that asks for it needs ../shared
        if "fer_dir" in getattr(item, "fixturenames", ()) and item.get_closest_marker("needs_shared") is None:
            item.add_marker(pytest.mark.needs_shared("data/fer2013"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("needs_shared")
    if marker is not None:
        path = SHARED.joinpath(*marker.args)
        if not path.exists():  # skipped and counted even in CI (a clean clone has no ../shared)
            why = f"needs ../shared: {path} is not here"
            if os.environ.get("CAFE_MONITOR_REQUIRE_SHARED") == "1":
                pytest.fail(f"{why} (required here: CAFE_MONITOR_REQUIRE_SHARED=1)", pytrace=False)
            pytest.skip(why)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "needs_shared" in r.keywords]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} tests need ../shared: skipped")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user's data folder (database, settings)."""
    monkeypatch.setenv("CAFE_MONITOR_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("CAFE_MONITOR_DB", raising=False)


# --- real face media: the demo clips shipped in assets/ (licences in assets/LICENSES.md), and
# --- stills, a group photo and a face-then-empty clip cut from them, so a fresh clone runs
# --- every end-to-end test (only FER2013 ones need ../shared)

@pytest.fixture(scope="session")
def emotions_clip() -> Path:
    """One woman acting sad, shocked, surprised, happy: 640x360, 472 frames at 25 fps."""
    return ASSETS / "demo_emotions.mp4"


@pytest.fixture(scope="session")
def customers_gif() -> Path:
    """Three adults walk to the camera and stand: three visits."""
    return ASSETS / "demo_three_customers.gif"


def clip_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames, i = {}, 0
    while len(frames) < len(indices):
        ok, image = cap.read()
        assert ok, f"{path} has fewer than {max(indices) + 1} frames"
        if i in indices:
            frames[i] = image
        i += 1
    cap.release()
    return [frames[i] for i in indices]


@dataclass(frozen=True)
class ClipRun:
    """What one recording session (capture thread, pipeline, tracker; nothing stored) made of a clip."""

    results: list[FrameResult]  # each frame's result, without its image (a 472-frame clip would keep 330 MB)
    stats: RunStats
    visits: list[Visit]


#: the defaults, less the work planner's spare-time detections: those depend on how busy the
#: machine is (a loaded CI run detected fewer frames, and lost the face on more of them), this
#: plan depends on the frames only, so a test of what the monitor reads never races the clock
NO_SPARE_TIME: dict[str, dict[str, object]] = {"detector": {"budget_ms": 0}}


def run_clip(path: Path, region: Region | None = None) -> ClipRun:
    """A clip through the monitor as it runs, with the default settings and the shipped default
    model, the planner at NO_SPARE_TIME."""
    from cafe_monitor.config import parse
    from cafe_monitor.session import MonitorSession, build_pipeline

    no_image = np.zeros((0, 0, 3), np.uint8)
    results: list[FrameResult] = []

    class RecordingSession(MonitorSession):
        def process(self, frame: Frame) -> FrameResult:
            result = super().process(frame)
            results.append(dataclasses.replace(result, image=no_image))
            return result

    settings = parse(NO_SPARE_TIME)
    pipeline = build_pipeline(settings)
    if region is not None:
        pipeline.region = region
    session = RecordingSession(settings, source=str(path), store=False, pipeline=pipeline)
    try:
        result = session.run()
    finally:
        pipeline.close()
    return ClipRun(results, result.stats, result.visits)


@pytest.fixture(scope="session")
def emotions_clip_run(emotions_clip: Path) -> ClipRun:
    """The emotions clip through the live path once per test run: every test that only reads
    what the default monitor made of it shares this one run (~15 s on a busy 2-core machine)."""
    return run_clip(emotions_clip)


@pytest.fixture(scope="session")
def still_faces(emotions_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four photos of one face (frames of the emotions clip, as PNG)."""
    import cv2

    folder = tmp_path_factory.mktemp("stills")
    paths = []
    for i, image in zip((20, 150, 300, 440), clip_frames(emotions_clip, [20, 150, 300, 440]), strict=True):
        paths.append(folder / f"face-{i}.png")
        cv2.imwrite(str(paths[-1]), image)
    return paths


@pytest.fixture(scope="session")
def group_photo(emotions_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six faces in one frame: six frames of the clip in 3 rows of 2 (1280x1080), three
    faces in the left half, three in the right."""
    import cv2

    tiles = clip_frames(emotions_clip, [10, 90, 170, 250, 330, 410])
    mosaic = np.vstack([np.hstack(tiles[r * 2 : r * 2 + 2]) for r in range(3)])
    path = tmp_path_factory.mktemp("group") / "six_faces.jpg"
    cv2.imwrite(str(path), mosaic)
    return path


@pytest.fixture(scope="session")
def face_then_empty_clip(emotions_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of the face, then 3 s of an empty (grey) frame: 25 fps, 150 frames, MJPG."""
    import cv2

    faces = clip_frames(emotions_clip, list(range(200, 275)))
    path = tmp_path_factory.mktemp("clip") / "face_then_empty.avi"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (640, 360))
    for image in faces + [np.full((360, 640, 3), 128, np.uint8)] * 75:
        out.write(image)
    out.release()
    return path


@pytest.fixture
def fer_dir() -> Path:
    """FER2013 in ../shared: tests asking for it are marked `needs_shared` (skipped without it, counted)."""
    return FER


@pytest.fixture
def model_path() -> Path:
    from cafe_monitor.paths import DEFAULT_MODEL

    assert DEFAULT_MODEL.is_file(), f"shipped model missing: {DEFAULT_MODEL}"
    return DEFAULT_MODEL


@pytest.fixture
def fast_model_path() -> Path:
    """The shipped single-net model: float32 with its int8 twin beside it."""
    from cafe_monitor.paths import FAST_MODEL

    assert FAST_MODEL.is_file(), f"shipped model missing: {FAST_MODEL}"
    return FAST_MODEL


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on a real PostgreSQL (scripts/pg-test-server.sh)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return fresh_pg()


@pytest.fixture
def pg_url() -> str:
    """The test PostgreSQL server with an empty schema (for tests of PostgreSQL's own features)."""
    return fresh_pg()


def fresh_pg() -> str:
    url = os.environ.get("CAFE_MONITOR_TEST_PG")
    if not url:
        skip_or_fail("no PostgreSQL server (set CAFE_MONITOR_TEST_PG; scripts/test.sh starts one)", "PG")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:  # a clean schema per test
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def face_like(size: int = 200, seed: int = 0) -> np.ndarray:
    """A synthetic BGR frame with structure (not a real face; for plumbing tests)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    return img
