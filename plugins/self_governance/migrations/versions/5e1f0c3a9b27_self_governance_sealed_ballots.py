"""self_governance: sealed ballots and rating sheets (secrecy against the database files)

While a secret vote or an evaluation round is open, choices are stored encrypted under a
key derived from the app's secret key (never in the database); at the close they are
opened, shuffled and written in plain in one transaction, and the sealed rows deleted.

Revision ID: 5e1f0c3a9b27
Revises: 19add32afec7
Create Date: 2026-12-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '5e1f0c3a9b27'
down_revision = '19add32afec7'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('self_governance_sealed_ballot',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('vote_id', sa.Integer(), nullable=False),
    sa.Column('box', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['vote_id'], ['self_governance_vote.id'], name=op.f('fk_self_governance_sealed_ballot_vote_id_self_governance_vote'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_governance_sealed_ballot')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('self_governance_sealed_ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_self_governance_sealed_ballot_vote_id'), ['vote_id'], unique=False)

    op.create_table('self_governance_sealed_rating',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('box', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['self_governance_evaluation_round.id'], name=op.f('fk_self_governance_sealed_rating_round_id_self_governance_evaluation_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_self_governance_sealed_rating')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('self_governance_sealed_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_self_governance_sealed_rating_round_id'), ['round_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('self_governance_sealed_rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_governance_sealed_rating_round_id'))
    op.drop_table('self_governance_sealed_rating')
    with op.batch_alter_table('self_governance_sealed_ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_governance_sealed_ballot_vote_id'))
    op.drop_table('self_governance_sealed_ballot')
