"""Put Café Monitor in the Linux application menu: `cafe-monitor install-desktop` (and `--remove`).

A wheel installed with pipx has a command but no menu entry, and a café owner opens programs
from the menu. This writes the two files the freedesktop.org specifications ask for, under the
user's own data folder (no root, no system paths touched):

* `$XDG_DATA_HOME/applications/cafe-monitor.desktop` (Desktop Entry Specification), which runs
  this installation's Python (`sys.executable -m cafe_monitor`, the dashboard), so a pipx or
  virtualenv install needs nothing on PATH;
* `$XDG_DATA_HOME/icons/hicolor/scalable/apps/cafe-monitor.svg` (Icon Theme Specification),
  named by the entry as `Icon=cafe-monitor` so the desktop's theme machinery finds and scales it.

Installing again rewrites both in place; `--remove` deletes both. Desktops watch these folders,
so the entry appears without logging out. The login autostart is cafe_monitor.autostart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cafe_monitor.autostart import _desktop_quote, _environment
from cafe_monitor.errors import UserError
from cafe_monitor.paths import ICON

APP_ID = "cafe-monitor"


class DesktopError(UserError, RuntimeError):
    """The menu entry cannot be written here (another system, an unwritable folder)."""


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def entry_path() -> Path:
    return data_home() / "applications" / f"{APP_ID}.desktop"


def icon_path() -> Path:
    return data_home() / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def command(config: Path | None = None) -> list[str]:
    """This installation's dashboard (`cafe-monitor` with no command opens it)."""
    cmd = [sys.executable, "-m", "cafe_monitor"]
    return [*cmd, "--config", str(config.expanduser().resolve())] if config is not None else cmd


def entry_text(cmd: list[str], env: dict[str, str]) -> str:
    words = [_desktop_quote(a) for a in cmd]
    if env:  # a moved data folder travels with the entry, as with the autostart entry
        words = ["env", *(_desktop_quote(f"{k}={v}") for k, v in sorted(env.items())), *words]
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",  # the newest desktop-file-validate 0.26 (Debian 12) knows
        "Name=Café Monitor",
        "GenericName=Customer satisfaction monitor",
        "Comment=Reads customers' expressions at the counter and scores their visits",
        "Exec=" + " ".join(words),
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=Office;Qt;",
        "Keywords=café;cafe;satisfaction;customers;webcam;mood;",
        "StartupNotify=true",
        "",
    ])


def install(config: Path | None = None) -> list[Path]:
    """Write (or rewrite) the menu entry and its icon; the paths written."""
    if not sys.platform.startswith("linux"):
        raise DesktopError("install-desktop writes a Linux (freedesktop.org) menu entry; on Windows or macOS make a "
                           f"shortcut to `{' '.join(command(config))}` (see docs/user-guide.md, Install)")
    if not ICON.is_file():
        raise DesktopError(f"the icon is missing from this installation: {ICON}")
    try:
        icon_path().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ICON, icon_path())
        entry_path().parent.mkdir(parents=True, exist_ok=True)
        tmp = entry_path().with_suffix(".tmp")
        tmp.write_text(entry_text(command(config), _environment()), encoding="utf-8")
        tmp.replace(entry_path())  # a desktop watching the folder never reads half a file
    except OSError as exc:
        raise DesktopError(f"cannot write the menu entry: {exc}") from exc
    if shutil.which("update-desktop-database"):  # the menu cache some desktops read; harmless elsewhere
        subprocess.run(["update-desktop-database", str(entry_path().parent)], capture_output=True, timeout=30,
                       check=False)
    return [entry_path(), icon_path()]


def remove() -> list[Path]:
    """Delete the menu entry and its icon (whichever exist)."""
    removed = []
    try:
        for path in (entry_path(), icon_path()):
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed.append(path)
    except OSError as exc:
        raise DesktopError(f"cannot remove the menu entry: {exc}") from exc
    return removed
