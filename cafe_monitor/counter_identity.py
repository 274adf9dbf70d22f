"""Which counter this is, across restarts and clones.

Two counters cloned from one disk image (same host name, a copied settings.toml) cannot
be told apart by host name and process id: one would take the other's live session for
its own crash. So each counter makes a random id at its first start and keeps it in its
data folder (`counter-id`, owner-only), never in settings.toml, which is copied between
machines on purpose. Sessions record it; "is this crashed session mine" compares it.
"""

from __future__ import annotations

import re
import uuid

from cafe_monitor.owner_only import write_private
from cafe_monitor.paths import data_dir

FILE_NAME = "counter-id"


def counter_id() -> str:
    """This counter's id (32 hex digits), made and kept on first use."""
    path = data_dir() / FILE_NAME
    try:
        kept = path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        kept = ""
    if re.fullmatch(r"[0-9a-f]{32}", kept):
        return kept
    made = uuid.uuid4().hex
    write_private(path, made + "\n")
    return made
