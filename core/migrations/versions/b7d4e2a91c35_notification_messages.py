"""identity: notifications told in the reader's language

Revision ID: b7d4e2a91c35
Revises: f3a81c5d0b27
Create Date: 2026-12-07 20:15:00.000000

A notification's title and body may be a message (msgid, parameters, the catalogue that
translates it), rendered when read in the reader's language: two nullable JSON columns.
Existing rows keep their stored text (NULL: shown as stored).
"""
import sqlalchemy as sa
from alembic import op

revision = 'b7d4e2a91c35'
down_revision = 'f3a81c5d0b27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identity_notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_message', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('body_message', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('identity_notification', schema=None) as batch_op:
        batch_op.drop_column('body_message')
        batch_op.drop_column('title_message')
