"""matters: item table

Revision ID: c5fdb62987da
Revises:
Create Date: 2026-12-07 15:40:53

Written by ``shequ plugin new matters``. For the next change, edit models.py and run
``shequ db revision -m "matters: ..." --plugin matters`` (docs/plugin-guide.md, section 3).
"""

import core.toolkit
import sqlalchemy as sa
from alembic import op

revision = "c5fdb62987da"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matters_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("community", sa.String(length=12), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", core.toolkit.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["identity_user.id"],
            name=op.f("fk_matters_item_created_by_id_identity_user"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matters_item")),
        sa.UniqueConstraint("title", name=op.f("uq_matters_item_title")),
    )
    with op.batch_alter_table("matters_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matters_item_person_id"), ["person_id"])
        batch_op.create_index(batch_op.f("ix_matters_item_community"), ["community"])


def downgrade() -> None:
    with op.batch_alter_table("matters_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_matters_item_community"))
        batch_op.drop_index(batch_op.f("ix_matters_item_person_id"))
    op.drop_table("matters_item")
