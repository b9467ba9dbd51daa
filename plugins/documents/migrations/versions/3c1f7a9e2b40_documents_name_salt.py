"""documents: the v2 name commitment's salt

Revision ID: 3c1f7a9e2b40
Revises: ad9c50328f15
Create Date: 2026-12-08 00:00:00

A nullable column for the per-document salt of the v2 statement's name commitment
(v1 documents keep NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = '3c1f7a9e2b40'
down_revision = 'ad9c50328f15'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents_document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_salt', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('documents_document', schema=None) as batch_op:
        batch_op.drop_column('name_salt')
