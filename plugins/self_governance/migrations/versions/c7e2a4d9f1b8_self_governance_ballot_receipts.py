"""self_governance: ballot receipts

Each roll row (who voted, never what) carries the receipt code shown to the voter after
casting, so they can check later that their ballot is on the roll and in the count.
Rows written before receipts existed keep NULL: those voters were never shown one.

Revision ID: c7e2a4d9f1b8
Revises: a9d4e6f1b3c5
Create Date: 2026-12-07 12:50:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'c7e2a4d9f1b8'
down_revision = 'a9d4e6f1b3c5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('self_governance_voter_roll', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_self_governance_voter_roll_receipt'), ['receipt'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('self_governance_voter_roll', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_governance_voter_roll_receipt'))
        batch_op.drop_column('receipt')
