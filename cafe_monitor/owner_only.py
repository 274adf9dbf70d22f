"""Files and folders only their owner can read.

Settings may hold a database password; the database, rescue files and reports hold a
café's trading day. On a till computer shared by several accounts none of it is for the
others, whatever the umask, so everything the program writes there is created 0600 in
0700 folders, and a file rewritten (settings on every toggle) keeps 0600: it is written to
a temporary file created 0600 and swapped in atomically. Windows has no such modes; its
per-user profile folder is already private, so there this only writes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO

POSIX = os.name == "posix"
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path, *, restrict: bool = True) -> Path:
    """`path` as a folder, created 0700; `restrict`: an existing one is made 0700 too (our
    own folders; not a folder the user named for reports, which may be shared on purpose)."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if POSIX and restrict:
        path.chmod(FOLDER_MODE)
    return path


def restrict(path: Path) -> None:
    """An existing file made 0600 (one written before, or by SQLite); a missing one is fine."""
    if POSIX:
        with contextlib.suppress(FileNotFoundError):
            path.chmod(FILE_MODE)


def new_private_file(path: Path) -> Path:
    """`path` created (or emptied) 0600, for a library that then opens it by name (PDF, CSV)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.close(fd)
    restrict(path)
    return path


def open_private(path: Path, mode: str = "a", *, encoding: str = "utf-8", newline: str | None = None) -> IO[str]:
    """`path` opened for writing ("a" or "w", text), created 0600 and kept 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if POSIX:
        os.fchmod(fd, FILE_MODE)
    return open(fd, mode, encoding=encoding, newline=newline)  # the caller closes it


def write_private(path: Path, content: str) -> None:
    """Replace `path` with `content` atomically; the file is 0600 before it holds a byte."""
    private_folder(path.parent, restrict=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mkstemp: 0600
    try:
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
