from __future__ import annotations

from pathlib import Path

import pytest

from cafe_monitor.config import ConfigError, Settings, load, save


def test_defaults_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    save(Settings(), p)
    assert load(p) == Settings()


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "absent.toml") == Settings()


@pytest.mark.parametrize(("text", "message"), [
    ("[camera]\nsorce = '0'\n", "camera.sorce"),
    ("[camra]\n", "camra"),
    ("[cameras.counter]\nwidht = 640\n", "cameras.counter.widht"),
    ("[cameras.counter]\nfps = -1\n", "cameras.counter"),
    ("[region]\nx1 = 'left'\n", "region.x1"),
    ("[region]\nx1 = 0.8\nx2 = 0.2\n", "region"),
    ("[privacy]\nretention_days = 0\n", "retention_days"),
    ("[score.valence]\njoy = 1.0\n", "joy"),
    ("[camera\n", "malformed"),
    ("[tracker]\nmin_frames = true\n", "tracker.min_frames"),
    ("[classifier]\nprecision = 'fp16'\n", "classifier.precision"),
])
def test_bad_settings_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load(p)
    assert str(p) in str(err.value)


def test_partial_file_keeps_other_defaults(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[region]\nx1 = 0.5\n[score.valence]\nsurprise = 0.0\n")
    s = load(p)
    assert s.region.x1 == 0.5 and s.region.x2 == 1.0
    assert s.score.valence == {"surprise": 0.0}


def test_camera_tables_and_reports_round_trip(tmp_path: Path) -> None:
    from cafe_monitor.config import CameraProfile, ReportSettings, save
    from cafe_monitor.pipeline import Region

    s = Settings(cameras={"counter": CameraProfile(source="2", width=1280, height=720, fps=30),
                          "seating area": CameraProfile(area=Region(0.0, 0.3, 1.0, 1.0))},
                 reports=ReportSettings(folder="~/Reports", auto_daily=False))
    save(s, tmp_path / "s.toml")
    assert load(tmp_path / "s.toml") == s
    assert s.profile("till") == CameraProfile()  # a camera without a table: the defaults
