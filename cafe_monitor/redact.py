"""Credentials out of every URL we store, print, log or export.

A database URL (`postgresql://user:secret@host/db`) or a stream URL
(`rtsp://user:secret@camera/stream`) carries its password in clear; a session row,
a report or a log line must keep where the data came from but never the secret, so
everything that leaves memory goes through `redact_url` (`user:***@host`).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# scheme://user:password@  (greedy to the last '@' of the token: over-masking is safe)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:@/\s]*):(?P<secret>[^\s]*)@")
# ...?password=secret&  or  ;password=secret  (libpq/ODBC style query options)
_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|pass)=)(?P<secret>[^&;\s]*)", re.IGNORECASE)


def redact_url(text: str) -> str:
    """`text` with any URL password replaced by ***; text without one comes back unchanged."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@" if m["secret"] else m[0], text)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", text)


def redact(value: Any) -> Any:
    """`redact_url` applied to every string inside dicts, lists and tuples (settings, JSON)."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
