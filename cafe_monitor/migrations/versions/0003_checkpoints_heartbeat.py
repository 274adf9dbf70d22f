"""visits are checkpointed while open (one row per visit, updated in place); running
sessions carry a heartbeat so a live counter is told from a crashed one

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("visits") as batch_op:
        batch_op.create_index("ix_visits_session_visit_no", ["session_id", "visit_no"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch_op:
        batch_op.drop_index("ix_visits_session_visit_no")
    with op.batch_alter_table("sessions") as batch_op:
        batch_op.drop_column("heartbeat_at")
