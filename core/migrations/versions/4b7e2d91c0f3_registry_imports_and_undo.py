"""registry imports, their undo data, import id and reason on the change history;
exchange client feed start

Revision ID: 4b7e2d91c0f3
Revises: e5b1c0a7d312
Create Date: 2026-12-07 08:40:00
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '4b7e2d91c0f3'
down_revision = 'e5b1c0a7d312'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'registry_import',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=255), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_name', sa.String(length=64), nullable=False),
        sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('correction', sa.Boolean(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('community', sa.String(length=12), nullable=True),
        sa.Column('blank_clears', sa.Boolean(), nullable=False),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.Column('unchanged', sa.Integer(), nullable=False),
        sa.Column('reverted_at', core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reverted_by_id', sa.Integer(), nullable=True),
        sa.Column('reverted_by_name', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_import')),
    )
    op.create_table(
        'registry_import_undo',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('import_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('sealed', sa.Text(), nullable=False),
        sa.Column('at', core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_import_undo')),
    )
    with op.batch_alter_table('registry_import_undo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registry_import_undo_import_id'), ['import_id'],
                              unique=False)
    with op.batch_alter_table('registry_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_registry_change_import_id'), ['import_id'],
                              unique=False)
    with op.batch_alter_table('core_exchange_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_start', sa.BigInteger().with_variant(
            sa.Integer(), 'sqlite'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('core_exchange_client', schema=None) as batch_op:
        batch_op.drop_column('feed_start')
    with op.batch_alter_table('registry_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_change_import_id'))
        batch_op.drop_column('reason')
        batch_op.drop_column('import_id')
    with op.batch_alter_table('registry_import_undo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_import_undo_import_id'))
    op.drop_table('registry_import_undo')
    op.drop_table('registry_import')
