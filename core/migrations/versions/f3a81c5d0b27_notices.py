"""notices: notices to many residents and their per-recipient deliveries

Revision ID: f3a81c5d0b27
Revises: 7c3d9a41e2b8
Create Date: 2026-12-07 10:40:00.000000

Staff send a notice to the residents of a building, grid, community or thematic group
(``core_notice``); each account and channel it reaches is one ``core_notice_delivery`` row,
which the delivery report counts (sent, failed, no channel, opted out).
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = 'f3a81c5d0b27'
down_revision = '7c3d9a41e2b8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'core_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('urgency', sa.String(length=8), nullable=False),
        sa.Column('audience_kind', sa.String(length=16), nullable=False),
        sa.Column('audience_code', sa.String(length=32), nullable=False),
        sa.Column('audience_id', sa.Integer(), nullable=True),
        sa.Column('criteria', sa.JSON(), nullable=True),
        sa.Column('audience_label', sa.String(length=200), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_by_name', sa.String(length=64), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('sent_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('finished_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('residents', sa.Integer(), nullable=False),
        sa.Column('accounts', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_core_notice')),
    )
    with op.batch_alter_table('core_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_notice_created_by_id'), ['created_by_id'],
                              unique=False)
    op.create_table(
        'core_notice_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notice_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('done_at', core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['notice_id'], ['core_notice.id'],
                                name=op.f('fk_core_notice_delivery_notice_id_core_notice'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_core_notice_delivery')),
        sa.UniqueConstraint('notice_id', 'user_id', 'channel',
                            name=op.f('uq_core_notice_delivery_notice_id_user_id_channel')),
    )
    with op.batch_alter_table('core_notice_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_core_notice_delivery_notice_id'), ['notice_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_core_notice_delivery_user_id'), ['user_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('core_notice_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_notice_delivery_user_id'))
        batch_op.drop_index(batch_op.f('ix_core_notice_delivery_notice_id'))
    op.drop_table('core_notice_delivery')
    with op.batch_alter_table('core_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_core_notice_created_by_id'))
    op.drop_table('core_notice')
