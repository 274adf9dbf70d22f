"""deletions: what `delete` removed, so `import` never brings it back; timeline: one row per
session and second (duplicates from before are reduced to their first row)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("site", sa.String(length=100), nullable=True),
        sa.Column("camera", sa.String(length=100), nullable=True),
        sa.Column("session_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("DELETE FROM timeline WHERE id NOT IN "
               "(SELECT first_id FROM (SELECT MIN(id) AS first_id FROM timeline GROUP BY session_id, at) AS firsts)")
    op.create_index("ix_timeline_session_at", "timeline", ["session_id", "at"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_timeline_session_at", table_name="timeline")
    op.drop_table("deletions")
