"""self_governance: frozen electorates and the owners' assembly matter

An electorate is snapshotted when a vote opens (``self_governance_electorate``, with the
time and the registry state on the vote), and an owners' assembly vote names its Civil
Code art. 278 matter, which decides its threshold.

Revision ID: a9d4e6f1b3c5
Revises: 5e1f0c3a9b27
Create Date: 2026-12-07 08:45:00.000000
"""
from alembic import op
import sqlalchemy as sa

import core.toolkit


revision = 'a9d4e6f1b3c5'
down_revision = '5e1f0c3a9b27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('self_governance_vote', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matter', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('frozen_at', core.toolkit.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('registry_marker', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('electorate_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('electorate_area', sa.Numeric(precision=14, scale=2, asdecimal=False), nullable=True))
    op.create_table('self_governance_electorate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vote_id', sa.Integer(), nullable=False),
    sa.Column('voter_key', sa.String(length=24), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('dwellings', sa.String(length=200), nullable=False),
    sa.Column('weight', sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['self_governance_vote.id'], name=op.f('fk_self_governance_electorate_vote_id_self_governance_vote'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_governance_electorate'))
    )
    with op.batch_alter_table('self_governance_electorate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_self_governance_electorate_vote_id'), ['vote_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_self_governance_electorate_person_id'),
                              ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('self_governance_electorate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_governance_electorate_person_id'))
        batch_op.drop_index(batch_op.f('ix_self_governance_electorate_vote_id'))
    op.drop_table('self_governance_electorate')
    with op.batch_alter_table('self_governance_vote', schema=None) as batch_op:
        batch_op.drop_column('electorate_area')
        batch_op.drop_column('electorate_count')
        batch_op.drop_column('registry_marker')
        batch_op.drop_column('frozen_at')
        batch_op.drop_column('matter')
