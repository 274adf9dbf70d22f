"""The command line as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert_one_line_error(cli("report", "--session", "last", "--db", db, "--out", "/proc/nope"), "sessions")


@pytest.mark.media
def test_headless_json_then_sessions_and_report(emotions_clip: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    p = cli("run", "--headless", "--json", "--source", str(emotions_clip), "--db", db)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)  # stdout is exactly one JSON object
    assert out["frames"] == 472 and out["frames_with_faces"] >= 449 and len(out["visits"]) == 1
    assert set(out["visits"][0]["distribution"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise",
                                                     "neutral"}
    assert out["score"]["visits"] == 1 and 0 <= out["score"]["score"] <= 100
    assert out["provider"] == "CPU int8"  # the int8 twin on a machine without a GPU

    listing = json.loads(cli("sessions", "--json", "--db", db).stdout)
    assert listing[0]["id"] == out["session_id"] and listing[0]["visits"] == 1
    assert listing[0]["duration_s"] >= 19  # media time, even though it ran faster

    rep = cli("report", "--session", "last", "--format", "pdf,csv,json", "--out", str(tmp_path / "r"), "--db", db)
    assert rep.returncode == 0, rep.stderr
    pdf = tmp_path / "r" / f"session-{out['session_id']}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    rows = list(csv.DictReader((tmp_path / "r" / f"session-{out['session_id']}-visits.csv").open()))
    assert len(rows) == 1 and int(rows[0]["frames"]) == out["visits"][0]["frames"]
    report = json.loads((tmp_path / "r" / f"session-{out['session_id']}.json").read_text())
    assert report["sessions"][0]["model"] == "emotion_cascade.int8"  # the default, named in every report

    bad = cli("report", "--session", "last", "--db", db, "--out", "/proc/forbidden")
    assert_one_line_error(bad, "/proc/forbidden")
    assert_one_line_error(cli("report", "--session", "999", "--db", db), "999")


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
