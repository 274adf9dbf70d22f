"""Opening a database: engine, SQLite pragmas, integrity check, Alembic migration.

SQLite in the user data folder is the zero-set-up default (WAL, so the dashboard can
read while the writer writes); any SQLAlchemy URL works, PostgreSQL for chains of shops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from cafe_monitor.redact import redact_url


class StorageError(RuntimeError):
    """The database cannot be opened, is locked, damaged or of an unknown schema."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_database(url: str, *, migrate: bool = True) -> Engine:
    """Engine for `url`, schema brought up to date (Alembic), integrity checked for SQLite."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StorageError(f"cannot use database URL {_safe(url)}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                check = conn.execute(text("PRAGMA quick_check")).scalar()
                if check != "ok":
                    raise StorageError(f"database {_safe(url)} is damaged ({check}); move it aside and "
                                       "restart to begin a new one, or restore a backup")
    except OperationalError as exc:
        raise StorageError(_explain(url, exc)) from exc
    except DatabaseError as exc:  # "file is not a database" and friends
        raise StorageError(f"database {_safe(url)} is damaged or not a database: {exc.orig}") from exc
    if migrate:
        from cafe_monitor.migrations import upgrade

        try:
            upgrade(engine)
        except OperationalError as exc:
            raise StorageError(_explain(url, exc)) from exc
    return engine


def _safe(url: str) -> str:
    """URL without its password, for messages."""
    from sqlalchemy.engine import make_url

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
