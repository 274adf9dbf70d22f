"""The one base class for errors a user must see.

A `UserError` is something the user can fix (no camera, a missing file, a bad setting, a
locked database, an unwritable folder); its message is one line that says what and where.
The command line, the dashboard's worker and its dialogs each catch `UserError` in one
place and show the message (CLI: `error: ...`, exit 2; GUI: a visible message); any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error the user can fix; `str(error)` is the one line to show."""
