"""Sessions, visits and a per-second timeline in SQL (SQLAlchemy 2), split by job:

- `schema`: the tables (numbers only, never an image);
- `database`: opening and migrating a database;
- `timeline`: per-frame probabilities -> one row per second (pure);
- `writer`: the one writer thread;
- `rescue`: rows the database could not take, in a file, and loading them back;
- `housekeeping`: closing crashed sessions, retention and deletion, per site;
- `queries`: reading.

Everything is re-exported here, so `from cafe_monitor import storage; storage.X` works.
"""

from sqlalchemy.engine import Engine

from cafe_monitor.storage.database import DatabaseUnavailable, StorageError, open_database, session_scope
from cafe_monitor.storage.housekeeping import (
    CounterBusyError,
    Removed,
    delete_between,
    delete_session,
    mark_interrupted,
    prune,
    prune_timeline,
)
from cafe_monitor.storage.queries import (
    get_session,
    list_sessions,
    session_timeline,
    session_visits,
    sessions_between,
    timeline_between,
    visits_between,
)
from cafe_monitor.storage.schema import UTC, Base, EmotionColumns, SessionRow, TimelineRow, VisitRow, as_utc
from cafe_monitor.storage.timeline import TimelineAggregator, TimelineBucket
from cafe_monitor.storage.writer import SessionWriter, start_session

__all__ = [
    "UTC",
    "Base",
    "CounterBusyError",
    "DatabaseUnavailable",
    "EmotionColumns",
    "Engine",
    "Removed",
    "SessionRow",
    "SessionWriter",
    "StorageError",
    "TimelineAggregator",
    "TimelineBucket",
    "TimelineRow",
    "VisitRow",
    "as_utc",
    "delete_between",
    "delete_session",
    "get_session",
    "list_sessions",
    "mark_interrupted",
    "open_database",
    "prune",
    "prune_timeline",
    "session_scope",
    "session_timeline",
    "session_visits",
    "sessions_between",
    "start_session",
    "timeline_between",
    "visits_between",
]
