"""gov_services: proactive offers and the outreach list

Revision ID: b3f81d6e0c52
Revises: a9e4c2d7b310
Create Date: 2026-12-07 16:00:00
"""
from alembic import op
import sqlalchemy as sa
import core.toolkit

revision = 'b3f81d6e0c52'
down_revision = 'a9e4c2d7b310'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
