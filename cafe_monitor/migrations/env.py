"""Alembic environment: runs on the engine handed over by `upgrade()`."""

from __future__ import annotations

from alembic import context

from cafe_monitor.storage.schema import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    context.run_migrations()
