"""no secrets at rest, again: 0005's redaction let a password through when the user name
held '@' (`admin@server:secret@host`); stored sources and settings are redacted anew

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from cafe_monitor.redact import redact, redact_url

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

sessions = sa.table("sessions", sa.column("id", sa.Integer), sa.column("source", sa.String),
                    sa.column("settings", sa.JSON))


def upgrade() -> None:
    conn = op.get_bind()
    for sid, source, settings in conn.execute(sa.select(sessions.c.id, sessions.c.source, sessions.c.settings)):
        clean_source, clean_settings = redact_url(source or ""), redact(settings)
        if clean_source != (source or "") or clean_settings != settings:
            conn.execute(sessions.update().where(sessions.c.id == sid)
                         .values(source=clean_source, settings=clean_settings))


def downgrade() -> None:
    pass  # a secret once removed is not put back
