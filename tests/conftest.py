from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MEDIA = SHARED / "media"
FER = SHARED / "data" / "fer2013"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user's data folder (database, settings)."""
    monkeypatch.setenv("CAFE_MONITOR_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("CAFE_MONITOR_DB", raising=False)


@pytest.fixture
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip(f"real face media not available ({MEDIA} missing)")
    return MEDIA


@pytest.fixture
def fer_dir() -> Path:
    if not FER.is_dir():
        pytest.skip(f"FER2013 not available ({FER} missing)")
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
    url = os.environ.get("CAFE_MONITOR_TEST_PG")
    if not url:
        pytest.skip("no PostgreSQL server (set CAFE_MONITOR_TEST_PG; scripts/test.sh starts one)")
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
