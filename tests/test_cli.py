"""The command line as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cafe_monitor.domain import CLASSES
from tests.conftest import need_tool

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cafe_monitor", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, env={**os.environ, **(env or {})})


def assert_one_line_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, p.stderr
    for n in needles:
        assert n in errors[0]


def test_missing_video_file(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", "--headless", "--source", str(tmp_path / "nope.mp4")), "nope.mp4")


def test_missing_camera_is_waited_for() -> None:
    """A camera not there (yet) is no error: the run waits for it and says so once."""
    p = cli("run", "--headless", "--source", "7", "--no-store", "--max-seconds", "2")
    assert p.returncode == 0 and "camera 7 not found; retrying until it appears" in p.stderr, p.stderr


def test_unreadable_video(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    assert_one_line_error(cli("run", "--headless", "--source", str(bad), "--no-store"), "broken.mp4")


def test_malformed_config_names_key(tmp_path: Path) -> None:
    cfg = tmp_path / "settings.toml"
    cfg.write_text("[detector]\nmin_scor = 0.4\n")
    assert_one_line_error(cli("--config", str(cfg), "run", "--headless", "--source", "x.mp4"), "detector.min_scor")


def test_corrupt_model(tmp_path: Path, model_path: Path) -> None:
    bad = tmp_path / "m.onnx"
    bad.write_bytes(model_path.read_bytes()[:1000])
    bad.with_suffix(".card.json").write_text(model_path.with_suffix(".card.json").read_text())
    assert_one_line_error(cli("run", "--headless", "--source", "x.mp4", "--model", str(bad)), "m.onnx")


def test_unwritable_report_path(tmp_path: Path) -> None:
    """A report that has something to write, to a folder that cannot be made: one line naming it."""
    import datetime as dt

    from cafe_monitor import storage
    from tests.test_queries import add_session

    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    add_session(storage.open_database(db), dt.datetime(2026, 7, 1, 15, tzinfo=dt.timezone.utc),
                [(dt.datetime(2026, 7, 1, 15, 30, tzinfo=dt.timezone.utc), "happy")])
    assert json.loads(cli("sessions", "--json", "--db", db).stdout)[0]["visits"] == 1  # recorded
    assert_one_line_error(cli("report", "--session", "last", "--db", db, "--out", "/proc/nope"), "/proc/nope")


def test_reporting_with_no_sessions_says_so(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert_one_line_error(cli("report", "--session", "last", "--db", db, "--out", str(tmp_path)), "sessions")


@pytest.fixture(scope="module")
def recorded_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A real run as a counter makes one: the demo clip headless, stored in its data folder
    (CAFE_MONITOR_HOME), then its session reported as PDF, CSV and JSON. (data folder, report
    folder, the run's JSON summary)"""
    home, reports = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("reports")
    env = {"CAFE_MONITOR_HOME": str(home)}
    run = cli("run", "--headless", "--json", "--source", str(REPO / "assets" / "demo_emotions.mp4"), env=env)
    assert run.returncode == 0, run.stderr
    rep = cli("report", "--session", "last", "--format", "pdf,csv,json", "--out", str(reports), env=env)
    assert rep.returncode == 0, rep.stderr
    return home, reports, json.loads(run.stdout)


@pytest.mark.media
def test_headless_json_then_sessions_and_report(recorded_demo: tuple[Path, Path, dict[str, Any]]) -> None:
    home, reports, out = recorded_demo  # stdout was exactly one JSON object
    env = {"CAFE_MONITOR_HOME": str(home)}
    assert out["frames"] == 472 and out["frames_with_faces"] >= 449 and len(out["visits"]) == 1
    assert set(out["visits"][0]["distribution"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise",
                                                     "neutral"}
    assert out["score"]["visits"] == 1 and 0 <= out["score"]["score"] <= 100
    assert out["provider"] == "CPU int8"  # the int8 twin on a machine without a GPU

    listing = json.loads(cli("sessions", "--json", env=env).stdout)
    assert listing[0]["id"] == out["session_id"] and listing[0]["visits"] == 1
    assert listing[0]["duration_s"] >= 19  # media time, even though it ran faster

    pdf = reports / f"session-{out['session_id']}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    rows = list(csv.DictReader((reports / f"session-{out['session_id']}-visits.csv").open()))
    assert len(rows) == 1 and int(rows[0]["frames"]) == out["visits"][0]["frames"]
    report = json.loads((reports / f"session-{out['session_id']}.json").read_text())
    assert report["sessions"][0]["model"] == "emotion_cascade.int8"  # the default, named in every report

    bad = cli("report", "--session", "last", "--out", "/proc/forbidden", env=env)
    assert_one_line_error(bad, "/proc/forbidden")
    assert_one_line_error(cli("report", "--session", "999", env=env), "999")


@pytest.mark.media
@pytest.mark.postgres
def test_headless_session_and_report_on_postgresql(customers_gif: Path, tmp_path: Path, pg_url: str) -> None:
    """A chain of shops: two counters write to one PostgreSQL database."""
    url = pg_url
    for site in ("north", "south"):
        cfg = tmp_path / f"{site}.toml"
        cfg.write_text(f'[storage]\nsite = "{site}"\ncamera_name = "till-1"\n')
        p = cli("--config", str(cfg), "run", "--headless", "--json", "--db", url,
                "--source", str(customers_gif))
        assert p.returncode == 0, p.stderr
        assert len(json.loads(p.stdout)["visits"]) == 3
    sessions = json.loads(cli("sessions", "--json", "--db", url).stdout)
    assert sorted(s["site"] for s in sessions) == ["north", "south"]
    north = json.loads(cli("sessions", "--json", "--db", url, "--site", "north").stdout)
    assert len(north) == 1
    rep = cli("report", "--session", "last", "--format", "pdf,csv", "--out", str(tmp_path / "r"), "--db", url)
    assert rep.returncode == 0, rep.stderr
    assert any(p.suffix == ".pdf" for p in (tmp_path / "r").iterdir())
    day = dt_today()
    rep = cli("report", "--day", day, "--format", "json", "--out", str(tmp_path / "d"), "--db", url)
    doc = json.loads((tmp_path / "d" / f"day-{day}.json").read_text())
    assert doc["summary"]["visits"] == 6


def dt_today() -> str:
    """Today's business day in the default settings' clock (the computer's zone, from 04:00)."""
    import datetime as dt

    from cafe_monitor.localtime import CafeClock

    return CafeClock.of().business_day(dt.datetime.now(dt.timezone.utc)).isoformat()


def test_dashboard_without_a_display_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    p = subprocess.run([sys.executable, "-m", "cafe_monitor"], capture_output=True, text=True, cwd=REPO,
                       timeout=60, env=env)
    assert_one_line_error(p, "--headless")


def test_a_second_ctrl_c_ends_a_hung_shutdown() -> None:
    import signal

    from cafe_monitor.cli import stop_on_signals

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stops: list[int] = []
    try:
        stop_on_signals(lambda: stops.append(1))
        handler = signal.getsignal(signal.SIGINT)
        assert callable(handler)
        handler(signal.SIGINT, None)  # the first: a clean stop, and the next one is Python's own
        assert stops == [1] and signal.getsignal(signal.SIGINT) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, saved[signal.SIGTERM])  # still ours
    finally:
        for s, h in saved.items():
            signal.signal(s, h)


def sqlite_rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    """Rows of a database a running monitor is writing ([] while it has no such table yet)."""
    if not path.exists():
        return []
    try:
        with closing(sqlite3.connect(path, timeout=5)) as c:
            return c.execute(query).fetchall()
    except sqlite3.OperationalError:  # not created yet, or busy
        return []


def wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str], seconds: float = 120) -> None:
    """Until `condition()` holds (polled), failing if the run ends first or after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            pytest.fail(f"the run ended (status {proc.returncode}) before {what}: {err}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {seconds:.0f} s")
        time.sleep(0.2)


@pytest.mark.media
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_visit_stores_the_open_visit_and_ends_the_session(signum: int, emotions_clip: Path,
                                                                       tmp_path: Path) -> None:
    """Ctrl+C at the terminal, or `systemctl stop` (SIGTERM), while a customer is in view: the
    visit is stored whole, with its emotion mix, and the session ends as 'ended', not as a crash."""
    home = tmp_path / "home"
    db = home / "cafe_monitor.db"
    proc = subprocess.Popen([sys.executable, "-m", "cafe_monitor", "run", "--headless", "--json", "--source",
                             str(emotions_clip), "--realtime"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "CAFE_MONITOR_HOME": str(home)})
    try:
        # mid-visit: the visit's checkpoint is stored and 3 s of the 19.7 s clip are recorded
        wait_until(lambda: bool(sqlite_rows(db, "select 1 from visits"))
                   and len(sqlite_rows(db, "select 1 from timeline")) >= 3, "open visit 3 s long", proc)
        (checkpointed,), = sqlite_rows(db, "select frames from visits")  # the open visit's last checkpoint
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert len(summary["visits"]) == 1 and summary["frames"] < 472  # stopped mid-clip, the visit still open then
    (status, ended_at), = sqlite_rows(db, "select status, ended_at from sessions")
    assert status == "ended" and ended_at is not None
    (frames, *mix), = sqlite_rows(db, "select frames, " + ", ".join(f"p_{c}" for c in CLASSES) + " from visits")
    stored = summary["visits"][0]
    # the whole visit up to the signal (the run's own figure), at least what was checkpointed before it;
    # not a count of frames a second: played in real time, a loaded machine drops frames
    assert frames == stored["frames"] >= checkpointed >= 5
    assert sum(mix) == pytest.approx(1.0, abs=1e-3)
    assert mix == pytest.approx([stored["distribution"][c] for c in CLASSES], abs=1e-3)


#: Magic numbers of image files (anywhere in a file: an image may hide inside a database page).
IMAGE_MAGIC = {"JPEG": re.compile(rb"\xff\xd8\xff[\xc0-\xfe]"), "PNG": re.compile(rb"\x89PNG\r\n\x1a\n"),
               "GIF": re.compile(rb"GIF8[79]a"), "WebP": re.compile(rb"RIFF....WEBP", re.DOTALL),
               "NumPy": re.compile(rb"\x93NUMPY")}
#: 48x48 = 2304 bytes: a face crop as the model sees it, written out as numbers
CROP_AS_NUMBERS = re.compile(rb"(?:\b(?:25[0-5]|2[0-4]\d|1?\d?\d)\b[,; \t\n\]\[]+){2304}")


def image_bytes(path: Path) -> list[str]:
    """What in file `path` could be a picture of a face."""
    data = path.read_bytes()
    found = [name for name, magic in IMAGE_MAGIC.items() if magic.search(data)]
    if data.startswith(b"BM") and len(data) > 54:
        found.append("BMP")
    if CROP_AS_NUMBERS.search(data):
        found.append("2304 byte values in a row (a 48x48 crop)")
    if path.suffix in (".db", ".sqlite"):
        with closing(sqlite3.connect(path)) as c:
            tables = [t for (t,) in c.execute("select name from sqlite_master where type = 'table'")]
            for table in tables:
                columns = [col[1] for col in c.execute(f"pragma table_info('{table}')")]
                for col in columns:
                    blobs = c.execute(f"select count(*) from '{table}' where typeof(\"{col}\") = 'blob'").fetchone()[0]
                    if blobs:
                        found.append(f"{blobs} blob(s) in {table}.{col}")
    return found


@pytest.mark.media
def test_a_run_and_its_report_write_no_image_of_a_face(recorded_demo: tuple[Path, Path, dict[str, Any]]) -> None:
    """Privacy (README, 'what is recorded'): numbers only. Every file the run and the report
    wrote is scanned for image bytes; the PDF's only pictures are its charts, which pdfimages
    lists with their sizes (charts are hundreds of pixels wide, a face crop 48x48; today's
    charts are drawn as vectors, so it lists none)."""
    home, reports, _ = recorded_demo
    written = sorted(p for p in [*home.rglob("*"), *reports.rglob("*")] if p.is_file())
    assert any(p.name == "cafe_monitor.db" for p in written) and any(p.suffix == ".pdf" for p in written)
    for path in written:
        if path.suffix == ".pdf":
            continue
        assert image_bytes(path) == [], path
    pdfimages = need_tool("pdfimages", "poppler-utils")
    for pdf in (p for p in written if p.suffix == ".pdf"):
        listing = subprocess.run([pdfimages, "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
        sizes = [(int(cols[3]), int(cols[4])) for cols in (line.split() for line in listing.splitlines()[2:])]
        assert all(w >= 300 and h >= 150 for w, h in sizes), f"{pdf.name}: images of {sizes} pixels"


def test_the_image_scan_finds_a_face_written_any_way(tmp_path: Path) -> None:
    """The scan above would see a face crop stored as an image, a blob or a list of numbers."""
    import sqlite3 as sq

    import cv2
    import numpy as np

    crop = np.random.default_rng(0).integers(0, 256, (48, 48), np.uint8)
    for suffix in (".jpg", ".png", ".bmp", ".webp"):
        cv2.imwrite(str(tmp_path / f"face{suffix}"), crop)
        assert image_bytes(tmp_path / f"face{suffix}"), suffix
    (tmp_path / "face.json").write_text(json.dumps({"crop": crop.tolist()}))
    assert image_bytes(tmp_path / "face.json") == ["2304 byte values in a row (a 48x48 crop)"]
    with closing(sq.connect(tmp_path / "faces.db")) as c, c:
        c.execute("create table faces (crop)")
        c.execute("insert into faces values (?)", (crop.tobytes(),))
    assert image_bytes(tmp_path / "faces.db") == ["1 blob(s) in faces.crop"]
