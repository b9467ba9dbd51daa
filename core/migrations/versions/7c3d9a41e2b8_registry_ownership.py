"""registry: dwelling ownership (业主, shares, history)

Revision ID: 7c3d9a41e2b8
Revises: 4b7e2d91c0f3
Create Date: 2026-12-07 08:40:00.000000

Who owns each dwelling (a person or an organisation, with a share and the dates), so an
owners' assembly can weigh exclusive area and count owners (Civil Code art. 278) and the
owner_unit electorate admits owners only. ``registry_dwelling.area_m2`` already holds the
exclusive area (专有部分面积).
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = '7c3d9a41e2b8'
down_revision = '4b7e2d91c0f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registry_ownership',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dwelling_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('share', sa.Numeric(precision=7, scale=6, asdecimal=False), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dwelling_id'], ['registry_dwelling.id'], name=op.f('fk_registry_ownership_dwelling_id_registry_dwelling')),
    sa.ForeignKeyConstraint(['person_id'], ['registry_person.id'], name=op.f('fk_registry_ownership_person_id_registry_person')),
    sa.ForeignKeyConstraint(['organisation_id'], ['registry_organisation.id'], name=op.f('fk_registry_ownership_organisation_id_registry_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_ownership'))
    )
    with op.batch_alter_table('registry_ownership', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registry_ownership_dwelling_id'), ['dwelling_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_ownership_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_ownership_organisation_id'), ['organisation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('registry_ownership', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_ownership_organisation_id'))
        batch_op.drop_index(batch_op.f('ix_registry_ownership_person_id'))
        batch_op.drop_index(batch_op.f('ix_registry_ownership_dwelling_id'))
    op.drop_table('registry_ownership')
