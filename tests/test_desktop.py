"""`cafe-monitor install-desktop`: a freedesktop menu entry that runs this installation, with its
icon where icon themes look, valid for desktop-file-validate, rewritten in place, removed cleanly.
Every path is under a temporary XDG_DATA_HOME."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cafe_monitor import autostart, desktop
from cafe_monitor.cli import main
from cafe_monitor.paths import ICON


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setattr(desktop.sys, "platform", "linux")
    return home


def entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if line)


def test_entry_runs_this_install_with_its_themed_icon(data_home: Path) -> None:
    written = desktop.install()
    app, icon = data_home / "applications" / "cafe-monitor.desktop", \
        data_home / "icons" / "hicolor" / "scalable" / "apps" / "cafe-monitor.svg"
    assert written == [app, icon]
    keys = entry(app)
    home = os.environ["CAFE_MONITOR_HOME"]  # the test's data folder travels with the entry
    assert shlex.split(keys["Exec"]) == ["env", f"CAFE_MONITOR_HOME={home}", sys.executable, "-m", "cafe_monitor"]
    assert keys["Icon"] == "cafe-monitor" and keys["Type"] == "Application" and keys["Terminal"] == "false"
    assert icon.read_bytes() == ICON.read_bytes()


def test_install_again_rewrites_in_place_and_remove_takes_both(data_home: Path) -> None:
    first = [p.read_bytes() for p in desktop.install()]
    assert [p.read_bytes() for p in desktop.install()] == first
    assert not list((data_home / "applications").glob("*.tmp"))  # written whole, then renamed
    removed = desktop.remove()
    assert len(removed) == 2 and not any(p.exists() for p in removed)
    assert desktop.remove() == []


def test_odd_config_path_stays_one_word(data_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAFE_MONITOR_HOME")
    odd = Path('/srv/my "café"/100%/settings.toml')
    desktop.install(config=odd)
    words = shlex.split(entry(data_home / "applications" / "cafe-monitor.desktop")["Exec"])
    assert words == [sys.executable, "-m", "cafe_monitor", "--config", str(odd).replace("%", "%%")]


def test_cli_prints_what_it_wrote_and_how_to_undo(data_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-desktop"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {data_home / 'applications' / 'cafe-monitor.desktop'}" in out
    assert "undo: cafe-monitor install-desktop --remove" in out
    assert main(["install-desktop", "--remove"]) == 0
    assert "removed" in capsys.readouterr().out and not (data_home / "applications" / "cafe-monitor.desktop").exists()


def test_other_systems_get_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(desktop.sys, "platform", "darwin")
    assert main(["install-desktop"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "shortcut" in err and err.count("\n") == 1


def in_ci() -> bool:
    return (os.environ.get("CI", "").lower() in ("1", "true")
            or os.environ.get("CAFE_MONITOR_REQUIRE_DESKTOP_UTILS") == "1")


@pytest.mark.parametrize("odd_home", [False, True])
@pytest.mark.parametrize("which", ["menu", "autostart"])
def test_desktop_file_validate_accepts_the_entries(data_home: Path, which: str, odd_home: bool,
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if shutil.which("desktop-file-validate") is None:
        if in_ci():
            pytest.fail("desktop-file-validate (Debian's desktop-file-utils) is required here: scripts/test.sh "
                        "installs it")
        pytest.skip("desktop-file-validate not installed (apt-get install desktop-file-utils)")
    if odd_home:
        monkeypatch.setenv("CAFE_MONITOR_HOME", "/srv/café data/100% \"sure\"")
    if which == "menu":
        path = desktop.install()[0]
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setattr(autostart.sys, "platform", "linux")
        path = autostart.install(method="xdg").written[0]
    done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout + done.stderr
