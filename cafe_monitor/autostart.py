"""Start the monitor when the computer starts (the user logs in) and restart it after a crash:
`cafe-monitor install-autostart` (and `--remove`).

Linux has two ways, and we prefer the first where it works:

* a **systemd user unit** (`~/.config/systemd/user/cafe-monitor.service`), because systemd
  restarts a crashed monitor (`Restart=on-failure`, retried without limit every 10 s: a
  camera plugged in late or a database back up is picked up) and keeps its log
  (`journalctl --user -u cafe-monitor`). The dashboard is started with the desktop
  (`WantedBy=graphical-session.target`, which GNOME, KDE Plasma and other systemd-managed
  desktops reach, handing the unit their display); `--headless` with the user's session
  (`default.target`; `loginctl enable-linger` starts it at boot without anyone logging in).
* an **XDG autostart entry** (`~/.config/autostart/cafe-monitor.desktop`), which every
  desktop runs at login (the freedesktop.org standard), when there is no systemd user
  manager or, for the dashboard, when this desktop does not reach
  graphical-session.target (the unit would never start there). It does not restart a
  crashed monitor; we say so.

The choice is made by asking `systemctl --user` from inside the session that installs; it
can be forced with `--method`. Both run this installation's Python (`sys.executable -m
cafe_monitor run --start`), so a virtualenv needs no PATH. Paths honour XDG_CONFIG_HOME.
Installing again replaces the entry (and removes the other method's, so the monitor never
starts twice). Windows and macOS are described in docs/operations.md (a Startup-folder shortcut or
a Task Scheduler task; a LaunchAgent plist with KeepAlive).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cafe_monitor.errors import UserError
from cafe_monitor.paths import ICON

UNIT = "cafe-monitor.service"
DESKTOP = "cafe-monitor.desktop"
TARGETS = ("graphical-session.target", "default.target")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class AutostartError(UserError, RuntimeError):
    """Autostart cannot be installed here (another system, a method not available)."""


OTHER_SYSTEMS = (
    "install-autostart writes Linux autostart entries. On Windows, put a shortcut to `{cmd}` in the "
    "Startup folder (Win+R, shell:startup) or create a Task Scheduler task 'At log on' with 'restart on "
    "failure'; on macOS, a LaunchAgent plist in ~/Library/LaunchAgents with ProgramArguments {args}, "
    "RunAtLoad and KeepAlive (see docs/operations.md, Running unattended)")


def config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def unit_path() -> Path:
    return config_home() / "systemd" / "user" / UNIT


def desktop_path() -> Path:
    return config_home() / "autostart" / DESKTOP


def command(headless: bool = False, config: Path | None = None) -> list[str]:
    """This installation's monitor, started monitoring at once."""
    cmd = [sys.executable, "-m", "cafe_monitor"]
    if config is not None:
        cmd += ["--config", str(config.expanduser().resolve())]
    return [*cmd, "run", "--start", *(["--headless"] if headless else [])]


def _environment() -> dict[str, str]:
    """What the started monitor must share with this shell: its data folder when moved.
    CAFE_MONITOR_DB is not copied (it may hold a password): keep the URL in settings.toml."""
    return {k: os.environ[k] for k in ("CAFE_MONITOR_HOME", "CAFE_MONITOR_MODELS") if os.environ.get(k)}


def _systemd_quote(arg: str) -> str:
    """One ExecStart word (systemd.service(5): C-style escapes in double quotes, % doubled)."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c in arg for c in ' \t"\'\\;'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _desktop_quote(arg: str) -> str:
    """One Exec word (Desktop Entry spec: reserved characters in double quotes, `"`, `` ` ``,
    `$` and `\\` escaped; `%` doubled as field codes use it)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return '"' + escaped + '"'


def unit_text(cmd: Sequence[str], headless: bool, env: dict[str, str]) -> str:
    target = TARGETS[1] if headless else TARGETS[0]
    session = [] if headless else ["PartOf=graphical-session.target", "After=graphical-session.target"]
    lines = ["[Unit]", "Description=Café Monitor (customer-satisfaction monitor)",
             *session,
             "StartLimitIntervalSec=0", "",
             "[Service]", "Type=simple", "ExecStart=" + " ".join(_systemd_quote(a) for a in cmd),
             *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
             "Restart=on-failure", "RestartSec=10", "", "[Install]", f"WantedBy={target}", ""]
    return "\n".join(lines)


def desktop_text(cmd: Sequence[str], env: dict[str, str]) -> str:
    words = [_desktop_quote(a) for a in cmd]
    if env:
        words = ["env", *(_desktop_quote(f"{k}={v}") for k, v in sorted(env.items())), *words]
    lines = ["[Desktop Entry]", "Type=Application", "Name=Café Monitor",
             "Comment=Starts monitoring the café counter at login", "Exec=" + " ".join(words),
             "Terminal=false", "X-GNOME-Autostart-enabled=true"]
    if ICON.is_file():
        lines.append(f"Icon={ICON}")
    return "\n".join(lines) + "\n"


def _systemctl(run: Runner, *args: str) -> subprocess.CompletedProcess[str] | None:
    """`systemctl --user ARGS`, or None when systemctl is missing or hangs."""
    try:
        return run(["systemctl", "--user", *args])
    except (OSError, subprocess.SubprocessError):
        return None


def _answer(run: Runner, *args: str) -> str:
    """What `systemctl --user ARGS` prints ("" when it cannot reach a user manager)."""
    done = _systemctl(run, *args)
    return done.stdout.strip() if done is not None else ""


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=10, check=False)


def choose_method(headless: bool, run: Runner = _run) -> tuple[str, str]:
    """("systemd" | "xdg", why), decided by asking this session's systemd user manager."""
    state = _answer(run, "is-system-running")
    if state not in ("running", "degraded", "starting"):
        return "xdg", "no systemd user manager here, so an XDG autostart entry (it runs at login but does " \
                      "not restart the monitor after a crash)"
    if headless:
        return "systemd", "a systemd user unit: it starts with your session and restarts after a crash"
    if _answer(run, "is-active", "graphical-session.target") != "active":
        return "xdg", "this desktop does not start graphical-session.target, so an XDG autostart entry (it " \
                      "runs at login but does not restart the dashboard after a crash; --headless can)"
    return "systemd", "a systemd user unit: it starts with your desktop and restarts after a crash"


@dataclass
class Outcome:
    method: str
    why: str
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _remove_all() -> list[Path]:
    paths = [unit_path(), *(unit_path().parent / f"{t}.wants" / UNIT for t in TARGETS), desktop_path()]
    removed = []
    for p in paths:
        if p.is_symlink() or p.exists():
            p.unlink()
            removed.append(p)
    return removed


def install(*, headless: bool = False, method: str = "auto", config: Path | None = None,
            run: Runner = _run) -> Outcome:
    if not sys.platform.startswith("linux"):
        cmd = command(headless, config)
        raise AutostartError(OTHER_SYSTEMS.format(cmd=" ".join(cmd), args=cmd))
    if method == "auto":
        method, why = choose_method(headless, run)
    elif method == "systemd":
        why = "a systemd user unit (chosen with --method): it restarts the monitor after a crash"
    elif method == "xdg":
        why = "an XDG autostart entry (chosen with --method): it runs at login but does not restart after a crash"
    else:
        raise AutostartError(f"--method must be auto, systemd or xdg, not {method!r}")
    cmd, env = command(headless, config), _environment()
    outcome = Outcome(method, why, removed=_remove_all())
    try:
        if method == "systemd":
            unit_path().parent.mkdir(parents=True, exist_ok=True)
            unit_path().write_text(unit_text(cmd, headless, env), encoding="utf-8")
            wants = unit_path().parent / f"{TARGETS[1] if headless else TARGETS[0]}.wants" / UNIT
            wants.parent.mkdir(parents=True, exist_ok=True)
            wants.symlink_to(Path("..") / UNIT)  # what `systemctl --user enable` makes
            outcome.written += [unit_path(), wants]
            reload = _systemctl(run, "daemon-reload")
            if reload is None or reload.returncode != 0:
                outcome.notes.append("systemd reads the unit at your next login")
            outcome.notes.append("logs: journalctl --user -u cafe-monitor; start now: systemctl --user start "
                                 "cafe-monitor")
            if headless:
                outcome.notes.append("to start it at boot without logging in: loginctl enable-linger")
        else:
            desktop_path().parent.mkdir(parents=True, exist_ok=True)
            desktop_path().write_text(desktop_text(cmd, env), encoding="utf-8")
            outcome.written.append(desktop_path())
    except OSError as exc:
        raise AutostartError(f"cannot write the autostart entry: {exc}") from exc
    outcome.removed = [p for p in outcome.removed if p not in outcome.written]
    return outcome


def remove(run: Runner = _run) -> list[Path]:
    """Remove every autostart entry we write; the running monitor keeps running."""
    try:
        removed = _remove_all()
    except OSError as exc:
        raise AutostartError(f"cannot remove the autostart entry: {exc}") from exc
    if removed and sys.platform.startswith("linux"):
        _systemctl(run, "daemon-reload")
    return removed
