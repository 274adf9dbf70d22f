"""Several cameras at once: naming, per-camera settings, and real multi-source runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cafe_monitor import config
from cafe_monitor.classification import CLASSES
from cafe_monitor.monitor import MAX_CAMERAS, CameraPlan, camera_settings, plan_cameras, split_source
from cafe_monitor.pipeline import Region
from cafe_monitor.scoring import score_visits
from tests.test_cli import REPO, assert_one_line_error, cli


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
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    cameras = json.loads(out)["cameras"]
    assert [c["camera_name"] for c in cameras] == ["counter", "camera-2"] and all(c["frames"] > 0 for c in cameras)
    assert sorted((s["camera"], s["status"]) for s in sessions(db)) == [("camera-2", "ended"), ("counter", "ended")]
