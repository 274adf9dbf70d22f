from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from cafe_monitor.config import CameraProfile, ConfigError, Settings, load, parse, save
from cafe_monitor.domain import CLASSES, DEFAULT_VALENCE, Region
from cafe_monitor.limits import Limit, limit_of, number
from cafe_monitor.scoring import score_visits

REPO = Path(__file__).resolve().parents[1]


def numeric_keys() -> list[tuple[str, str, type, Limit | None]]:
    """Every number a settings file can hold: (table, key, int or float, its allowed range),
    found from the dataclasses, so a new key without a range fails the test below."""
    found: list[tuple[str, str, type, Limit | None]] = []

    def walk(cls: type[Any], table: str) -> None:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            typ = hints[f.name]
            if typ is Region:
                continue  # a camera's area: a list, tried in its own tests
            if dataclasses.is_dataclass(typ):
                walk(typ, f"{table}.{f.name}" if table else f.name)  # type: ignore[arg-type]
            elif typ in (int, float):
                found.append((table, f.name, typ, limit_of(f)))
            elif f.name == "valence":
                found.extend((f"{table}.valence", c, float, limit_of(f)) for c in CLASSES)

    walk(Settings, "")
    walk(CameraProfile, "cameras.counter")
    walk(Region, "region")  # the old form of the default camera's area
    return found


NUMERIC = numeric_keys()


def bad_values(typ: type, limit: Limit) -> list[float | int]:
    below = limit.low if limit.low_open else limit.low - 1
    above = limit.high if limit.high_open else limit.high + 1
    return [typ(below), typ(above)]


def test_defaults_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    save(Settings(), p)
    assert load(p) == Settings()


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.toml") == Settings()


def test_privacy_defaults_blur_on_labels_off_notice_set() -> None:
    privacy = Settings().privacy
    assert privacy.blur_preview and not privacy.show_labels
    assert "stored" in privacy.notice


@pytest.mark.parametrize(("text", "message"), [
    ("[camera]\nsorce = '0'\n", "camera.sorce"),
    ("[cameras]\n", "cameras"),
    ("[camra]\n", "camra"),
    ("[cameras.counter]\nwidht = 640\n", "cameras.counter.widht"),
    ("[cameras.counter]\nsorce = '0'\n", "cameras.counter.sorce"),
    ("[cameras.counter]\narea = [0, 0, 1]\n", "cameras.counter.area"),
    ("[cameras.counter]\nfps = 12.5\n", "cameras.counter.fps"),
    ("[region]\nx1 = 'left'\n", "region.x1"),
    ("[region]\nx1 = 0.8\nx2 = 0.2\n", "region"),
    ("[privacy]\nretention_days = 0\n", "retention_days"),
    ("[privacy]\nshow_labels = 'no'\n", "privacy.show_labels"),
    ("[score.valence]\njoy = 1.0\n", "score.valence.joy"),
    ("[camera\n", "malformed"),
    ("[tracker]\nmin_frames = true\n", "tracker.min_frames"),
    ("[classifier]\nprecision = 'fp16'\n", "classifier.precision"),
])
def test_bad_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_every_number_has_a_range() -> None:
    assert len(NUMERIC) >= 20
    assert [f"{t}.{k}" for t, k, _, limit in NUMERIC if limit is None] == []


@pytest.mark.parametrize(("table", "key", "typ", "limit"), NUMERIC, ids=[f"{t}.{k}" for t, k, _, _ in NUMERIC])
def test_every_number_out_of_range_is_one_line_naming_key_and_range(tmp_path: Path, table: str, key: str,
                                                                     typ: type, limit: Limit) -> None:
    p = tmp_path / "settings.toml"
    for value in bad_values(typ, limit):
        p.write_text(f"[{table}]\n{key} = {value!r}\n")
        with pytest.raises(ConfigError) as err:
            load(p)
        assert str(err.value) == f"{p}: {table}.{key} = {number(value)} is out of range ({limit})"


def test_range_edges() -> None:
    assert Limit(0, 1).allows(0) and Limit(0, 1).allows(1) and not Limit(0, 1).allows(1.01)
    assert not Limit(0, 1, low_open=True).allows(0) and not Limit(0, 1, high_open=True).allows(1)
    assert str(Limit(0, 1, low_open=True)) == "0 < x ≤ 1" and str(Limit(-1, 1)) == "-1 ≤ x ≤ 1"


@pytest.mark.parametrize(("text", "message"), [
    # equal sizes used to end in a ZeroDivisionError traceback (pipeline.face_quality)
    ("[quality]\nmin_face_px = 80\n", "quality.min_face_px = 80 must be less than quality.good_face_px = 80"),
    ("[quality]\nmin_sharpness = 200\n", "quality.min_sharpness = 200 must be less than quality.good_sharpness = 120"),
    ("[score]\ndissatisfied_below = 0.25\n",
     "score.dissatisfied_below = 0.25 must be less than score.satisfied_above = 0.25"),
    ("[region]\nx1 = 0.8\nx2 = 0.2\n", "region.x1 = 0.8 must be less than region.x2 = 0.2"),
    ("[cameras.counter]\narea = [0.0, 0.6, 1.0, 0.5]\n",
     "cameras.counter.area y1 = 0.6 must be less than cameras.counter.area y2 = 0.5"),
    ("[cameras.bar]\narea = [1.2, 0.0, 1.0, 1.0]\n", "cameras.bar.area x1 = 1.2 is out of range (0 ≤ x ≤ 1)"),
])
def test_rules_between_keys(text: str, message: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as err:
        parse(tomllib.loads(text))
    assert str(err.value) == message


def test_cli_bad_setting_is_one_stderr_line_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "settings.toml"
    cfg.write_text("[tracker]\niou_threshold = 2\n")
    p = subprocess.run([sys.executable, "-m", "cafe_monitor", "--config", str(cfg), "run", "--headless",
                        "--source", "x.mp4"], capture_output=True, text=True, cwd=REPO, timeout=120,
                       env={**os.environ})
    assert p.returncode == 2
    assert p.stderr.splitlines() == [f"error: {cfg}: tracker.iou_threshold = 2 is out of range (0 < x ≤ 1)"]


def test_partial_tables_keep_other_defaults(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[tracker]\nmin_frames = 3\n[score.valence]\nsurprise = 0.0\n")
    s = load(p)
    assert s.tracker.min_frames == 3 and s.tracker.iou_threshold == Settings().tracker.iou_threshold
    assert s.score.valence == {**DEFAULT_VALENCE, "surprise": 0.0}
    happy = [[1.0 if c == "happy" else 0.0 for c in CLASSES]] * 20
    assert score_visits(happy, s.score.to_config()).score == pytest.approx(
        score_visits(happy, Settings().score.to_config()).score)  # not 50: happy keeps its weight


def test_cameras_round_trip_and_profile(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('[cameras.counter]\narea = [0.0, 0.3, 1.0, 1.0]\nwidth = 1280\n'
                 '[cameras."front door"]\nsource = "rtsp://cam/1"\nfps = 15\n')
    s = load(p)
    assert s.profile() == CameraProfile(area=Region(0.0, 0.3, 1.0, 1.0), width=1280)
    assert s.profile("front door") == CameraProfile(source="rtsp://cam/1", fps=15)
    assert s.profile("nowhere") == CameraProfile() and s.profile("nowhere").area.is_full
    save(s, p)
    assert load(p) == s
    moved = s.with_area(Region(0.1, 0.2, 0.9, 0.8), "front door")
    assert moved.profile("front door").area == Region(0.1, 0.2, 0.9, 0.8)
    assert moved.profile("front door").source == "rtsp://cam/1" and moved.profile() == s.profile()
    with pytest.raises(ConfigError, match="cameras.counter.area x1"):
        s.with_area(Region(0.9, 0.0, 0.1, 1.0))


def test_old_region_table_is_the_default_cameras_area(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[region]\nx1 = 0.5\n[storage]\ncamera_name = 'till'\n")
    s = load(p)
    assert s.profile("till").area == Region(0.5, 0.0, 1.0, 1.0) and s.profile("counter").area.is_full
    save(s, p)
    assert "[region]" not in p.read_text() and load(p) == s  # written in the new form
    p.write_text("[region]\nx1 = 0.5\n[cameras.counter]\narea = [0.0, 0.0, 0.4, 1.0]\n")
    assert load(p).profile().area == Region(0.0, 0.0, 0.4, 1.0)  # the camera's own table wins


def test_notice_with_quotes_and_newline_round_trips(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    s = dataclasses.replace(Settings(), privacy=dataclasses.replace(
        Settings().privacy, notice='Smile "please"\nNo images \\ no names'))
    save(s, p)
    assert load(p) == s


def test_camera_tables_and_reports_round_trip(tmp_path: Path) -> None:
    from cafe_monitor.config import ReportSettings

    s = Settings(cameras={"counter": CameraProfile(source="2", width=1280, height=720, fps=30),
                          "seating area": CameraProfile(area=Region(0.0, 0.3, 1.0, 1.0))},
                 reports=ReportSettings(folder="~/Reports", auto_daily=False))
    save(s, tmp_path / "s.toml")
    assert load(tmp_path / "s.toml") == s
    assert s.profile("till") == CameraProfile()  # a camera without a table: the defaults
