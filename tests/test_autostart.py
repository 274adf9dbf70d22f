"""`cafe-monitor install-autostart`: the systemd user unit or XDG autostart entry runs this
installation, restarts after a crash (systemd), installs idempotently and removes cleanly.
Every path is under a temporary XDG_CONFIG_HOME; systemctl is never really called."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from cafe_monitor import autostart
from cafe_monitor.cli import main
from tests.conftest import need_tool


class FakeSystemctl:
    """Answers `systemctl --user ...` as a session with (or without) a user manager would."""

    def __init__(self, state: str = "running", graphical: str = "active") -> None:
        self.answers = {"is-system-running": state, "is-active": graphical, "daemon-reload": ""}
        self.calls: list[list[str]] = []

    def __call__(self, cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(cmd))
        out = self.answers[cmd[2]]
        return subprocess.CompletedProcess(list(cmd), 0 if out in ("running", "active", "") else 3, out + "\n", "")


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setattr(autostart.sys, "platform", "linux")
    return home


def exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_systemd_unit_runs_this_install_and_restarts_after_a_crash(config_home: Path) -> None:
    systemctl = FakeSystemctl()
    out = autostart.install(run=systemctl)
    unit = config_home / "systemd" / "user" / "cafe-monitor.service"
    assert out.method == "systemd" and out.written[0] == unit
    assert exec_start(unit) == [sys.executable, "-m", "cafe_monitor", "run", "--start"]
    text = unit.read_text()
    assert "Restart=on-failure" in text and "WantedBy=graphical-session.target" in text
    assert "PartOf=graphical-session.target" in text and "StartLimitIntervalSec=0" in text
    wants = unit.parent / "graphical-session.target.wants" / "cafe-monitor.service"
    assert wants.is_symlink() and wants.resolve() == unit.resolve()  # enabled, as `systemctl enable` does
    assert ["systemctl", "--user", "daemon-reload"] in systemctl.calls
    assert not (config_home / "autostart" / "cafe-monitor.desktop").exists()


def test_headless_unit_starts_with_the_users_session(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAFE_MONITOR_HOME", "/srv/café data")
    autostart.install(headless=True, config=Path("/etc/cafe monitor/settings.toml"), run=FakeSystemctl())
    unit = config_home / "systemd" / "user" / "cafe-monitor.service"
    assert exec_start(unit) == [sys.executable, "-m", "cafe_monitor", "--config", "/etc/cafe monitor/settings.toml",
                                "run", "--start", "--headless"]
    assert 'Environment="CAFE_MONITOR_HOME=/srv/café data"' in unit.read_text()
    assert "WantedBy=default.target" in unit.read_text() and "graphical" not in unit.read_text()
    assert (unit.parent / "default.target.wants" / "cafe-monitor.service").is_symlink()


def test_xdg_entry_without_a_systemd_user_manager(config_home: Path) -> None:
    out = autostart.install(run=FakeSystemctl(state="offline"))
    desktop = config_home / "autostart" / "cafe-monitor.desktop"
    assert out.method == "xdg" and out.written == [desktop] and "crash" in out.why
    lines = desktop.read_text().splitlines()
    assert lines[0] == "[Desktop Entry]" and "Type=Application" in lines
    exec_line = next(x for x in lines if x.startswith("Exec="))
    words = shlex.split(exec_line.removeprefix("Exec="))
    home = autostart.os.environ["CAFE_MONITOR_HOME"]  # the test's data folder travels with the entry
    assert words == ["env", f"CAFE_MONITOR_HOME={home}", sys.executable, "-m", "cafe_monitor", "run", "--start"]
    assert not (config_home / "systemd").exists()


def test_a_desktop_without_graphical_session_target_gets_the_xdg_entry(config_home: Path) -> None:
    out = autostart.install(run=FakeSystemctl(graphical="inactive"))
    assert out.method == "xdg" and "graphical-session.target" in out.why
    assert autostart.install(headless=True, run=FakeSystemctl(graphical="inactive")).method == "systemd"


def test_install_is_idempotent_and_switching_method_leaves_one_entry(config_home: Path) -> None:
    autostart.install(run=FakeSystemctl())
    unit = config_home / "systemd" / "user" / "cafe-monitor.service"
    first = unit.read_text()
    again = autostart.install(run=FakeSystemctl())
    assert unit.read_text() == first and again.removed == []  # the same files, rewritten in place
    switched = autostart.install(method="xdg", run=FakeSystemctl())
    assert not unit.exists() and unit in switched.removed
    assert not (unit.parent / "graphical-session.target.wants" / "cafe-monitor.service").is_symlink()
    assert (config_home / "autostart" / "cafe-monitor.desktop").is_file()


def test_remove_takes_every_entry_away(config_home: Path) -> None:
    systemctl = FakeSystemctl()
    autostart.install(run=systemctl)
    removed = autostart.remove(run=systemctl)
    assert len(removed) == 2 and not any(p.exists() or p.is_symlink() for p in removed)
    assert autostart.remove(run=systemctl) == []


def test_quoting_keeps_odd_paths_one_word() -> None:
    odd = '/opt/my "café"/100%/bin/python'
    assert shlex.split(autostart._systemd_quote(odd)) == [odd.replace("%", "%%")]
    assert shlex.split(autostart._desktop_quote(odd)) == [odd.replace("%", "%%")]


def test_cli_prints_what_it_wrote_and_how_to_undo(config_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-autostart", "--method", "xdg"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {config_home / 'autostart' / 'cafe-monitor.desktop'}" in out
    assert "undo: cafe-monitor install-autostart --remove" in out
    assert main(["install-autostart", "--remove"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (config_home / "autostart" / "cafe-monitor.desktop").exists()


def test_other_systems_get_one_line_saying_what_they_need(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(autostart.sys, "platform", "win32")
    assert main(["install-autostart"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "shell:startup" in err and "LaunchAgent" in err and err.count("\n") == 1


def test_systemd_accepts_the_unit(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("systemd-analyze", "systemd")
    monkeypatch.setenv("CAFE_MONITOR_HOME", "/srv/café data/100%")
    autostart.install(headless=True, config=Path("/etc/cafe monitor/settings.toml"), run=FakeSystemctl())
    unit = config_home / "systemd" / "user" / "cafe-monitor.service"
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
