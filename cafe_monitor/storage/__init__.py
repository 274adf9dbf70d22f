"""Sessions, visits and a per-second timeline in SQL (SQLAlchemy 2), split by job:

- `schema`: the tables (numbers only, never an image);
- `database`: opening and migrating a database;
- `writer`: the one writer thread and the per-second timeline;
- `queries`: reading.

Everything is re-exported here, so `from cafe_monitor import storage; storage.X` works.
"""

from sqlalchemy.engine import Engine

from cafe_monitor.storage.database import StorageError, open_database, session_scope
from cafe_monitor.storage.queries import (
    get_session,
    list_sessions,
    mark_interrupted,
    prune_timeline,
    session_timeline,
    session_visits,
    sessions_between,
    timeline_between,
    visits_between,
)
from cafe_monitor.storage.schema import UTC, Base, EmotionColumns, SessionRow, TimelineRow, VisitRow, as_utc
from cafe_monitor.storage.writer import SessionWriter, TimelineAggregator, TimelineBucket, start_session

__all__ = [
    "UTC", "Base", "EmotionColumns", "Engine", "SessionRow", "SessionWriter", "StorageError", "TimelineAggregator",
    "TimelineBucket", "TimelineRow", "VisitRow", "as_utc", "get_session", "list_sessions", "mark_interrupted",
    "open_database", "prune_timeline", "session_scope", "session_timeline", "session_visits", "sessions_between",
    "start_session", "timeline_between", "visits_between",
]
