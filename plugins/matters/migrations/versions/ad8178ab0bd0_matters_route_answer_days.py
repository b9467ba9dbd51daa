"""matters: a routing rule's own answer limit (answer_days)

Revision ID: ad8178ab0bd0
Revises: f6610dd0fe0e
Create Date: 2026-12-07 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "ad8178ab0bd0"
down_revision = "f6610dd0fe0e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("matters_route", sa.Column("answer_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("matters_route") as batch:
        batch.drop_column("answer_days")
