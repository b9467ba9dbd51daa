"""gov_services: appointments (offices, counters, slots, bookings)

Revision ID: a9e4c2d7b310
Revises: 7c1e5a9d2b40
Create Date: 2026-12-07 16:00:00
"""
from alembic import op
import sqlalchemy as sa
import core.toolkit

revision = 'a9e4c2d7b310'
down_revision = '7c1e5a9d2b40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
