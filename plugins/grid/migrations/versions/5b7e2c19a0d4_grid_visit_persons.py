"""grid: who a household visit covers and met

Revision ID: 5b7e2c19a0d4
Revises: d43c14429cbe
Create Date: 2026-12-07 21:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5b7e2c19a0d4'
down_revision = 'd43c14429cbe'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('grid_visit_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('covered', sa.Boolean(), nullable=False),
    sa.Column('met', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['grid_visit.id'],
                            name=op.f('fk_grid_visit_person_visit_id_grid_visit'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_visit_person')),
    sa.UniqueConstraint('visit_id', 'person_id',
                        name=op.f('uq_grid_visit_person_visit_id_person_id'))
    )
    with op.batch_alter_table('grid_visit_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grid_visit_person_person_id'), ['person_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_grid_visit_person_visit_id'), ['visit_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('grid_visit_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grid_visit_person_visit_id'))
        batch_op.drop_index(batch_op.f('ix_grid_visit_person_person_id'))
    op.drop_table('grid_visit_person')
