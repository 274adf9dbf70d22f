"""Schema versions (Alembic), applied automatically at start.

Alembic rather than hand-written ALTERs: it records the version in the database,
runs each step in a transaction on PostgreSQL, and handles SQLite's limited ALTER
through batch mode. A database newer than this program is refused instead of touched.
Counters of a chain that start together take turns (a PostgreSQL advisory lock), and so
do threads of one program (Alembic's context is global).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


#: pg_advisory_lock key held while migrating: "cafe" in ASCII
MIGRATION_LOCK = 0x63616665
LOCK_WAIT_S = 120.0


#: Alembic's `context` is one module-level object, so two threads of this program migrating
#: at once (the dashboard's first reads, a session starting) would trip over each other
_ONE_THREAD = threading.Lock()


def upgrade(engine: Engine) -> None:
    """Bring the schema to head, one thread of this program at a time. On PostgreSQL also
    under an advisory lock: of two counters starting together one migrates, the other
    waits and then finds nothing to do."""
    with _ONE_THREAD:
        if engine.dialect.name != "postgresql":
            _upgrade(engine)
            return
        with engine.connect() as lock:
            _wait_for_lock(lock)
            try:
                _upgrade(engine)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                lock.commit()


def _wait_for_lock(conn: Connection) -> None:
    deadline = time.monotonic() + LOCK_WAIT_S
    while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK}).scalar():
        conn.commit()  # no transaction left open while waiting
        if time.monotonic() > deadline:
            from cafe_monitor.storage.database import StorageError

            raise StorageError(f"another program has been upgrading this database's schema for over "
                               f"{LOCK_WAIT_S:.0f} s; retry when it is done")
        time.sleep(0.2)
    conn.commit()


def _upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine)
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        from cafe_monitor.storage.database import StorageError

        raise StorageError(f"database schema {current!r} is newer than this program; update Café Monitor")
    if current != script.get_current_head():
        command.upgrade(cfg, "head")
