"""grid: corrections of visit and patrol records (the earlier versions)

Revision ID: 8c3f1d6e2b47
Revises: 5b7e2c19a0d4
Create Date: 2026-12-07 23:20:00
"""
import sqlalchemy as sa
from alembic import op

import core.toolkit

revision = '8c3f1d6e2b47'
down_revision = '5b7e2c19a0d4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grid_correction',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('patrol_id', sa.Integer(), nullable=True),
    sa.Column('corrected_by_id', sa.Integer(), nullable=True),
    sa.Column('corrected_at', core.toolkit.UTCDateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['corrected_by_id'], ['identity_user.id'],
                            name=op.f('fk_grid_correction_corrected_by_id_identity_user'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patrol_id'], ['grid_patrol.id'],
                            name=op.f('fk_grid_correction_patrol_id_grid_patrol'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['grid_visit.id'],
                            name=op.f('fk_grid_correction_visit_id_grid_visit'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_correction'))
    )
    with op.batch_alter_table('grid_correction', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_correction_patrol_id'), ['patrol_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_grid_correction_visit_id'), ['visit_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('grid_correction', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_correction_visit_id'))
        batch_op.drop_index(batch_op.f('ix_grid_correction_patrol_id'))
    op.drop_table('grid_correction')
