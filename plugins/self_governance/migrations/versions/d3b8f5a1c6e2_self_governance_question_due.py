"""self_governance: a due date on each resident's question about a statement

The committee must answer a question on a statement within ``question_answer_days``
working days (the deployment's working calendar); the date is fixed when the question is
asked, so a later change of the setting or of the holidays does not move old deadlines.
Questions asked before this revision keep NULL: the service reads their due date from
the asking date and today's setting.

Revision ID: d3b8f5a1c6e2
Revises: c7e2a4d9f1b8
Create Date: 2026-12-07 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'd3b8f5a1c6e2'
down_revision = 'c7e2a4d9f1b8'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('self_governance_question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_on', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('self_governance_question', schema=None) as batch_op:
        batch_op.drop_column('due_on')
