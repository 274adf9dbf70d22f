"""Several cameras at once: naming, per-camera settings, and real multi-source runs."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cafe_monitor import cli as cli_module
from cafe_monitor import config, storage
from cafe_monitor.capture import Frame, Image
from cafe_monitor.domain import CLASSES, Region
from cafe_monitor.monitor import MAX_CAMERAS, CameraPlan, Monitor, camera_settings, plan_cameras, split_source
from cafe_monitor.pipeline import FrameResult
from cafe_monitor.scoring import score_visits
from cafe_monitor.session import LiveState, MonitorSession, SessionResult
from tests.test_cli import REPO, assert_one_line_error, cli, sqlite_rows


def settings_with(**cameras: dict[str, object]) -> config.Settings:
    return config.parse({"storage": {"camera_name": "till"}, "cameras": cameras})


def test_split_source_names_only_plain_words() -> None:
    assert split_source("seats=2") == ("seats", "2")
    assert split_source("garden-1=rtsp://cam/x") == ("garden-1", "rtsp://cam/x")
    assert split_source("rtsp://u:p@cam/live?channel=1") == (None, "rtsp://u:p@cam/live?channel=1")
    assert split_source("./a=b.mp4") == (None, "./a=b.mp4")
    assert split_source("0") == (None, "0")


def test_plan_names_sources() -> None:
    s = settings_with(seats={"source": "2"})
    assert plan_cameras(s, ["0", "b.mp4", "2", "door=3"]) == [
        CameraPlan("till", "0"), CameraPlan("camera-2", "b.mp4"), CameraPlan("seats", "2"), CameraPlan("door", "3")]
    # a NAME= given later is not handed out to an earlier plain source
    assert plan_cameras(s, ["0", "till=1"]) == [CameraPlan("camera-2", "0"), CameraPlan("till", "1")]
    assert plan_cameras(s, ["x.mp4"]) == [CameraPlan("till", "x.mp4")]  # one source: as before


def test_plan_without_sources_uses_camera_tables_or_the_default() -> None:
    assert plan_cameras(config.Settings()) == [CameraPlan("counter", "0")]
    s = settings_with(counter={"source": "0"}, seats={"source": "1"}, spare={})
    assert plan_cameras(s) == [CameraPlan("counter", "0"), CameraPlan("seats", "1")]


def test_plan_refuses_five_sources_and_twin_names() -> None:
    with pytest.raises(config.ConfigError, match=f"at most {MAX_CAMERAS} sources"):
        plan_cameras(config.Settings(), [str(i) for i in range(5)])
    with pytest.raises(config.ConfigError, match="two sources named 'a'"):
        plan_cameras(config.Settings(), ["a=0", "a=1"])


def test_camera_settings_use_the_cameras_own_name_and_area() -> None:
    s = config.parse({"cameras": {"seats": {"area": [0.1, 0.2, 0.9, 1.0]}}})
    seats = camera_settings(s, "seats")
    assert seats.storage.camera_name == "seats" and seats.profile().area == Region(0.1, 0.2, 0.9, 1.0)
    other = camera_settings(s, "camera-2")  # no table: the whole frame
    assert other.storage.camera_name == "camera-2" and other.profile().area.is_full
    assert s.storage.camera_name == "counter"  # the settings given are not changed


def sessions(db: str) -> list[dict[str, object]]:
    return list(json.loads(cli("sessions", "--json", "--db", db).stdout))


@pytest.mark.media
def test_two_sources_each_stored_as_its_own_session(customers_gif: Path, face_then_empty_clip: Path,
                                                    tmp_path: Path) -> None:
    """Each camera keeps its own name and customer area; the JSON names them."""
    cfg = tmp_path / "settings.toml"
    # the seats camera's area is a corner the face never enters: its session has no visits
    cfg.write_text(f'[storage]\ncamera_name = "till"\n\n[cameras.seats]\nsource = "{face_then_empty_clip}"\n'
                   "area = [0.0, 0.0, 0.05, 0.05]\n")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    p = cli("--config", str(cfg), "run", "--headless", "--json", "--db", db,
            "--source", str(customers_gif), "--source", str(face_then_empty_clip))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    till, seats = out["cameras"]
    assert (till["camera_name"], seats["camera_name"]) == ("till", "seats")
    assert till["frames"] == 41 and len(till["visits"]) == 3 and till["camera"] == "ended"
    assert seats["frames"] == 150 and seats["frames_with_faces"] == 0 and seats["visits"] == []
    everything = [[v["distribution"][c] for c in CLASSES] for cam in out["cameras"] for v in cam["visits"]]
    combined, expected = out["combined"], score_visits(everything).as_dict()  # visits' figures are rounded
    assert combined["shortfall"] is None  # files read without pacing wait for the monitor: nothing dropped
    assert combined["visits"] == expected["visits"] == 3
    for key in ("score", "low", "high", "satisfied", "dissatisfied"):
        assert combined[key] == pytest.approx(expected[key], abs=0.02)

    rows = {s["camera"]: s for s in sessions(db)}
    assert set(rows) == {"till", "seats"}
    assert rows["till"]["id"] == till["session_id"] and rows["till"]["visits"] == 3
    assert rows["seats"]["id"] == seats["session_id"] and rows["seats"]["visits"] == 0
    assert rows["seats"]["source"] == str(face_then_empty_clip) and all(r["status"] == "ended" for r in rows.values())

    # the same clip on its own, under its own name with the whole frame: its face is a visit
    alone = cli("run", "--headless", "--json", "--db", db, "--source", f"door={face_then_empty_clip}")
    assert alone.returncode == 0, alone.stderr
    single = json.loads(alone.stdout)
    assert set(single) == {"session_id", "frames", "frames_with_faces", "max_faces_in_frame", "fps", "dropped_frames",
                           "stage_ms", "provider", "camera", "visits", "score"}  # one source: the summary as before
    assert single["camera"] == "ended" and len(single["visits"]) == 1
    assert {s["camera"] for s in sessions(db)} == {"till", "seats", "door"}


@pytest.mark.media
def test_a_source_that_cannot_open_stops_all_and_leaves_no_rows(customers_gif: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    p = cli("run", "--headless", "--json", "--db", db, "--source", str(customers_gif),
            "--source", f"seats={tmp_path / 'gone.mp4'}")
    assert_one_line_error(p, "camera 'seats'", "gone.mp4")
    assert p.stdout == "" and sessions(db) == []


def test_five_sources_is_one_line_error() -> None:
    assert_one_line_error(cli("run", "--headless", *[a for i in range(5) for a in ("--source", f"{i}.mp4")]),
                          "at most 4 sources")


@pytest.mark.media
def test_ctrl_c_ends_every_cameras_session(customers_gif: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert sessions(db) == []  # the database exists before the run polls it
    proc = subprocess.Popen([sys.executable, "-m", "cafe_monitor", "run", "--headless", "--json", "--loop",
                             "--realtime", "--db", db, "--source", str(customers_gif), "--source", str(customers_gif)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len([s for s in sessions(db) if s["status"] == "running"]) < 2:
            time.sleep(0.5)
        while time.monotonic() < deadline and len(sqlite_rows(  # both have stored a processed second
                tmp_path / "db.sqlite", "select distinct session_id from timeline")) < 2:
            time.sleep(0.25)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    cameras = json.loads(out)["cameras"]
    assert [c["camera_name"] for c in cameras] == ["counter", "camera-2"] and all(c["frames"] > 0 for c in cameras)
    assert sorted((s["camera"], s["status"]) for s in sessions(db)) == [("camera-2", "ended"), ("counter", "ended")]


def two_cameras(customers_gif: Path, face_then_empty_clip: Path) -> tuple[config.Settings, list[CameraPlan]]:
    """'till': the three customers (41 frames); 'seats': a face then nothing (150 frames)."""
    return (config.parse({"storage": {"camera_name": "till"}}),
            [CameraPlan("till", str(customers_gif)), CameraPlan("seats", str(face_then_empty_clip))])


@pytest.mark.media
def test_the_rotation_records_two_clips_and_a_camera_that_ends_is_finished_alone(
        customers_gif: Path, face_then_empty_clip: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both cameras go through one rotation of two workers (not a thread each), each into its
    own stored session; the short clip's session is finished while the long one still runs."""
    settings, plans = two_cameras(customers_gif, face_then_empty_clip)
    threads: set[str] = set()
    frames = {"till": 0, "seats": 0}
    #: at each camera's finish, how many frames the other had been given (which ends first depends on
    #: what each frame costs: since the work planner, the seats clip's empty frames are the cheaper)
    other_frames_when_finished: dict[str, int] = {}
    process, finish = MonitorSession.process, MonitorSession.finish

    def counting_process(self: MonitorSession, frame: Frame) -> FrameResult:
        threads.add(threading.current_thread().name)
        frames[self.settings.storage.camera_name] += 1
        return process(self, frame)

    def noting_finish(self: MonitorSession, failed: bool = False) -> SessionResult:
        name = self.settings.storage.camera_name
        other_frames_when_finished.setdefault(name, frames["seats" if name == "till" else "till"])
        return finish(self, failed)

    monkeypatch.setattr(MonitorSession, "process", counting_process)
    monkeypatch.setattr(MonitorSession, "finish", noting_finish)
    states: dict[str, list[LiveState]] = {"till": [], "seats": []}
    monitor = Monitor(settings, plans, db_url=db_url)
    try:
        runs = monitor.run(on_state=lambda name, state: states[name].append(state))
    finally:
        monitor.close()
    till, seats = runs
    assert till.error is None and seats.error is None and till.result is not None and seats.result is not None
    assert threads <= {threading.main_thread().name, "round-robin-1"}  # the rotation's two workers
    assert till.result.stats.frames == 41 and len(till.result.visits) == 3
    assert seats.result.stats.frames == 150 and len(seats.result.visits) == 1
    first = min(other_frames_when_finished, key=lambda n: other_frames_when_finished[n] / (150 if n == "till" else 41))
    assert other_frames_when_finished[first] < (150 if first == "till" else 41)  # the other went on
    for name, run in (("till", till), ("seats", seats)):  # each camera's own status, to its end
        assert run.result is not None and states[name][-1].session_id == run.result.session_id
        assert states[name][-1].camera.value == "ended"
    assert monitor.shortfall() is None
    rows = {r.camera: r for r in storage.list_sessions(storage.open_database(db_url))}
    assert {c: (r.id, r.status) for c, r in rows.items()} == {
        "till": (till.result.session_id, "ended"), "seats": (seats.result.session_id, "ended")}


@pytest.mark.media
def test_a_camera_the_database_refuses_ends_alone(customers_gif: Path, face_then_empty_clip: Path,
                                                  db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, plans = two_cameras(customers_gif, face_then_empty_clip)
    # the other counter's beat stays fresh however long this machine takes to build the cameras
    monkeypatch.setattr(storage.housekeeping, "LIVE_HEARTBEAT", dt.timedelta(days=1))
    engine = storage.open_database(db_url)
    busy = storage.start_session(engine, source="2", site=settings.storage.site, camera="seats", model_name="m",
                                 model_sha256="0", provider="CPU", settings={})  # another counter, beating now
    monitor = Monitor(settings, plans, db_url=db_url)
    try:
        till, seats = monitor.run()
    finally:
        monitor.close()
    assert isinstance(seats.error, storage.CounterBusyError) and seats.result is None
    assert "camera 'seats'" in str(seats.error) and seats.as_dict()["error"] == str(seats.error)
    assert till.error is None and till.result is not None and till.result.stats.frames == 41
    rows = storage.list_sessions(engine)
    assert sorted((r.camera, r.status, r.id == busy) for r in rows) == [
        ("seats", "running", True), ("till", "ended", False)]  # no row for the refused camera


@pytest.mark.media
def test_a_camera_that_fails_mid_run_is_stored_as_interrupted_and_the_other_goes_on(
        customers_gif: Path, face_then_empty_clip: Path, db_url: str) -> None:
    settings, plans = two_cameras(customers_gif, face_then_empty_clip)
    monitor = Monitor(settings, plans, db_url=db_url)
    seats = monitor.sessions[1].pipeline
    real = seats.process
    calls = [0]

    def breaks_at_frame_20(image: Image, timestamp: float, index: int = 0) -> FrameResult:
        calls[0] += 1
        if calls[0] > 20:
            raise RuntimeError("the detector crashed")
        return real(image, timestamp, index)

    seats.process = breaks_at_frame_20  # type: ignore[method-assign]
    try:
        till_run, seats_run = monitor.run()
    finally:
        monitor.close()
    assert str(seats_run.error) == "the detector crashed" and seats_run.result is None
    assert calls[0] == 21  # no frame after the failure
    assert till_run.result is not None and till_run.result.stats.frames == 41 and len(till_run.result.visits) == 3
    rows = {r.camera: r.status for r in storage.list_sessions(storage.open_database(db_url))}
    assert rows == {"till": "ended", "seats": "interrupted"}


@pytest.mark.media
@pytest.mark.timing
def test_a_machine_too_slow_is_told_and_the_cameras_degrade_evenly(emotions_clip: Path) -> None:
    """Two 25 fps cameras (the clip paced in real time) on a 'machine' that needs 0.1 s more
    per frame: each is processed at the same lower rate and the monitor says so, while it
    runs and at its end. The 0.1 s caps the rate (two workers: 10 frames/s per camera); how
    far below the cap a busy machine falls is not this test's business."""
    plans = [CameraPlan("till", str(emotions_clip)), CameraPlan("seats", str(emotions_clip))]
    monitor = Monitor(config.Settings(), plans, store=False, realtime=True)
    for session in monitor.sessions:
        real = session.pipeline.process

        def slow(image: Image, timestamp: float, index: int = 0,
                 real: Callable[[Image, float, int], FrameResult] = real) -> FrameResult:
            time.sleep(0.1)
            return real(image, timestamp, index)

        session.pipeline.process = slow  # type: ignore[method-assign]
    said: list[str | None] = []
    try:
        runs = monitor.run(on_state=lambda _name, _state: said.append(monitor.shortfall()), max_seconds=4.0)
    finally:
        monitor.close()
    text = monitor.shortfall()
    assert text is not None
    m = re.fullmatch(r"machine too slow: each camera processed at (\d+)(?:–(\d+))? of (\d+) frames/s", text)
    assert m is not None and 1 <= int(m[1]) <= int(m[2] or m[1]) <= 10 and 15 <= int(m[3]) <= 28, text
    assert any(s is not None for s in said)  # the dashboard's status line had it while running
    counts = [r.result.stats.frames for r in runs if r.result is not None]
    assert len(counts) == 2 and max(counts) - min(counts) <= 2 + 0.1 * max(counts)  # evenly


@pytest.mark.media
def test_a_headless_text_run_warns_once_when_the_machine_is_too_slow(
        customers_gif: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    slow = "machine too slow: the camera processed at 9 of 25 frames/s"
    monkeypatch.setattr(Monitor, "shortfall", lambda self: slow)
    assert cli_module.main(["run", "--headless", "--no-store", "--source", str(customers_gif)]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "too slow" in line] == [f"warning: {slow}"]


@pytest.mark.media
def test_a_session_begun_but_never_driven_finishes_cleanly(customers_gif: Path, db_url: str) -> None:
    """begin() then finish() with no frame (a loop that stopped before its first turn): the
    session is stored as ended with nothing in it, and its source is released."""
    session = MonitorSession(config.Settings(), source=str(customers_gif), db_url=db_url)
    session.begin()
    result = session.finish()
    assert result.stats.frames == 0 and result.visits == [] and not session.capture.is_alive()
    rows = storage.list_sessions(storage.open_database(db_url))
    assert [(r.id, r.status) for r in rows] == [(result.session_id, "ended")]
