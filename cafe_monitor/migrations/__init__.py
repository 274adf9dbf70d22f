"""Schema versions (Alembic), applied automatically at start.

Alembic rather than hand-written ALTERs: it records the version in the database,
runs each step in a transaction on PostgreSQL, and handles SQLite's limited ALTER
through batch mode. A database newer than this program is refused instead of touched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config(engine)
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        from cafe_monitor.storage.database import StorageError

        raise StorageError(f"database schema {current!r} is newer than this program; update Café Monitor")
    if current != script.get_current_head():
        command.upgrade(cfg, "head")
