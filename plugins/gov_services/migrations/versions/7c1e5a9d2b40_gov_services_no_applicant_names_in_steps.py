"""gov_services: timeline steps no longer copy the applicant's name

The applicant's own steps (submit, resubmit, withdraw, rate) used to store the account's
display name in ``gov_services_step.actor_name``: a copy of personal data outside the
registry. They now store an empty name (the page says "Applicant"); this blanks the
copies already made. Staff names stay. Data only: no schema change.

Revision ID: 7c1e5a9d2b40
Revises: 4654c538a481
Create Date: 2026-12-07 01:30:00
"""
from alembic import op


revision = '7c1e5a9d2b40'
down_revision = '4654c538a481'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE gov_services_step SET actor_name = '' "
        "WHERE actor_id IS NOT NULL AND actor_id = ("
        "SELECT a.user_id FROM gov_services_application a "
        "WHERE a.id = gov_services_step.application_id)"
    )


def downgrade() -> None:
    pass  # the names are not restored: they were never needed here
