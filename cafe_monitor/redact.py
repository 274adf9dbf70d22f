"""Credentials out of every URL we store, print, log or export.

A database URL (`postgresql://user:secret@host/db`) or a stream URL
(`rtsp://user:secret@camera/stream`) carries its password in clear; a session row,
a report or a log line must keep where the data came from but never the secret, so
everything that leaves memory goes through `redact_url` (`user:***@host`).

The userinfo ends at the LAST '@' before the host (RFC 3986, FFmpeg): a user name may
hold '@' (`admin@server`, an e-mail) and a password may too. SQLAlchemy also reads a
password holding '/', '?' or '#' (`user:pa/ss@host`), so when no '@' comes before the
path, the password runs from the first ':' to the next '@'. When in doubt, more is
masked: a masked host is a nuisance, a leaked password is not.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# a URL up to the next whitespace: scheme://rest
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>\S*)")
# ...?password=secret&  or  ;PWD=secret  (libpq, ODBC and camera-style query options)
_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|pass|sslpassword|secret|token|access_token|api_?key)=)"
                    r"(?P<secret>[^&;\s]*)", re.IGNORECASE)


def _userinfo_end(rest: str) -> int:
    """Index of the '@' that ends the userinfo of `rest` (after `scheme://`), or -1."""
    path = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, path)
    if at >= 0:
        return at
    colon = rest.find(":")  # SQLAlchemy: user ':' password-with-'/'-'?'-'#' '@'
    if 0 <= colon < path and not rest.startswith("["):
        return rest.find("@", colon)
    return -1


def _mask_userinfo(m: re.Match[str]) -> str:
    rest = m["rest"]
    at = _userinfo_end(rest)
    colon = rest.find(":", 0, at) if at >= 0 else -1
    if colon < 0 or colon + 1 == at:  # no password (or an empty one)
        return m[0]
    return f"{m['scheme']}{rest[:colon]}:{MASK}{rest[at:]}"


def redact_url(text: str) -> str:
    """`text` with any URL password replaced by ***; text without one comes back unchanged."""
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", _URL.sub(_mask_userinfo, text))


def redact(value: Any) -> Any:
    """`redact_url` applied to every string inside dicts, lists and tuples (settings, JSON)."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
