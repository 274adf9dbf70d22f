"""Opening a database: engine, SQLite pragmas, integrity check, Alembic migration.

SQLite in the user data folder is the zero-set-up default (WAL, so the dashboard can
read while the writer writes); any SQLAlchemy URL works, PostgreSQL for chains of shops.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from cafe_monitor.errors import UserError
from cafe_monitor.owner_only import FILE_MODE, private_folder, restrict
from cafe_monitor.redact import redact_url


class StorageError(UserError, RuntimeError):
    """The database cannot be opened, is locked, damaged or of an unknown schema."""


class DatabaseUnavailable(StorageError):
    """The database does not answer now (server or network not up yet, locked): a monitor
    retries it, unlike a malformed URL or a damaged file."""


#: a database that does not answer must end in an error (and the writer's rows in the rescue
#: file), never in a counter frozen on a socket: PostgreSQL gets these unless the URL sets its own
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_S = 30
SQLITE_BUSY_TIMEOUT_S = 5

#: one opening (integrity check, migration) at a time in this program: the writer and the
#: daily-report thread open one new file together at start, and two Alembic transactions that
#: both read, then both write, make SQLite answer "locked" at once (no busy wait can help)
_OPENING = threading.Lock()


def _connect_args(url: URL) -> dict[str, Any]:
    """Timeouts for the driver: connect, per statement, and TCP keepalives so a dead network
    (cable out, VPN down) is noticed by the client too, not only by the server."""
    if url.get_backend_name() == "sqlite":
        return {"timeout": SQLITE_BUSY_TIMEOUT_S}
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in {"psycopg", "psycopg2"}:
        return {}
    given = set(url.query)
    wanted: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
        "keepalives_count": 3, "tcp_user_timeout": (CONNECT_TIMEOUT_S + STATEMENT_TIMEOUT_S) * 1000,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000} -c lock_timeout={STATEMENT_TIMEOUT_S * 1000}",
    }
    return {k: v for k, v in wanted.items() if k not in given}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # the busy timeout first: switching a new file to WAL needs a lock another connection of
    # this program may hold for a moment (two threads opening one database at once)
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """Engine for `url`, schema brought up to date (Alembic), integrity checked for SQLite."""
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        _private_sqlite(sqlite_file)
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=_connect_args(make_url(url)))
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(f"cannot use database URL {_safe(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    with _OPENING:
        _check_and_migrate(engine, url, migrate)
    return engine


def _check_and_migrate(engine: Engine, url: str, migrate: bool) -> None:
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                check = conn.execute(text("PRAGMA quick_check")).scalar()
                if check != "ok":
                    raise StorageError(f"database {_safe(url)} is damaged ({check}); move it aside and "
                                       "restart to begin a new one, or restore a backup")
    except OperationalError as exc:
        raise DatabaseUnavailable(_explain(url, exc)) from exc
    except DatabaseError as exc:  # "file is not a database" and friends
        raise StorageError(f"database {_safe(url)} is damaged or not a database: {exc.orig}") from exc
    if migrate:
        from cafe_monitor.migrations import upgrade

        try:
            upgrade(engine)
        except OperationalError as exc:
            raise DatabaseUnavailable(_explain(url, exc)) from exc


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: another database, or one in memory)."""
    if not url.startswith("sqlite") or "///" not in url or "uri=true" in url:
        return None
    name = url.split("///", 1)[1].split("?", 1)[0]
    return Path(name) if name and name != ":memory:" else None


def _private_sqlite(path: Path) -> None:
    """The database file made before SQLite makes it, 0600, so SQLite gives its -wal, -shm and
    -journal the same mode; an older database (and its companions) restricted on opening."""
    try:
        if not path.parent.exists():
            private_folder(path.parent)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        for companion in ("", "-wal", "-shm", "-journal"):
            restrict(path.with_name(path.name + companion))
    except OSError as exc:
        raise StorageError(f"cannot create database {path}: {exc.strerror or exc}") from exc


def _safe(url: str) -> str:
    """URL without its password, for messages."""
    try:
        return redact_url(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return "<invalid URL>"


def _explain(url: str, exc: OperationalError) -> str:
    msg = redact_url(str(exc.orig) if exc.orig is not None else str(exc))
    if "locked" in msg:
        return f"database {_safe(url)} is locked by another program; close it and retry"
    return f"cannot open database {_safe(url)}: {msg.splitlines()[0]}"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s
