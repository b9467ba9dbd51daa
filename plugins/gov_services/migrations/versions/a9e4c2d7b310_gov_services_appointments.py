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
    op.create_table('gov_services_appt_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office', sa.String(length=60), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('label_zh', sa.String(length=100), nullable=False),
    sa.Column('label_en', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gov_services_appt_counter')),
    sa.UniqueConstraint('office', 'number', name=op.f('uq_gov_services_appt_counter_office_number'))
    )
    with op.batch_alter_table('gov_services_appt_counter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gov_services_appt_counter_office'), ['office'], unique=False)

    op.create_table('gov_services_appt_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office', sa.String(length=60), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('opens', sa.String(length=5), nullable=False),
    sa.Column('closes', sa.String(length=5), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gov_services_appt_hours'))
    )
    with op.batch_alter_table('gov_services_appt_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gov_services_appt_hours_office'), ['office'], unique=False)

    op.create_table('gov_services_appt_slot_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=60), nullable=False),
    sa.Column('office', sa.String(length=60), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('days_ahead', sa.Integer(), nullable=False),
    sa.Column('cutoff_hours', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gov_services_appt_slot_rule')),
    sa.UniqueConstraint('service_code', name=op.f('uq_gov_services_appt_slot_rule_service_code'))
    )

    op.create_table('gov_services_appt_booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=60), nullable=False),
    sa.Column('office', sa.String(length=60), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('community', sa.String(length=12), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('starts_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seat', sa.Integer(), nullable=True),
    sa.Column('active_day', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('queue_no', sa.Integer(), nullable=True),
    sa.Column('counter', sa.Integer(), nullable=True),
    sa.Column('reminded_at', core.toolkit.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', core.toolkit.UTCDateTime(timezone=True), nullable=True),
    sa.Column('served_at', core.toolkit.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gov_services_appt_booking')),
    sa.UniqueConstraint('office', 'day', 'queue_no', name='uq_gov_services_appt_booking_queue'),
    sa.UniqueConstraint('person_id', 'service_code', 'active_day', name='uq_gov_services_appt_booking_person'),
    sa.UniqueConstraint('service_code', 'starts_at', 'seat', name='uq_gov_services_appt_booking_seat')
    )
    with op.batch_alter_table('gov_services_appt_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gov_services_appt_booking_community'), ['community'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_appt_booking_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_appt_booking_office'), ['office'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_appt_booking_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_appt_booking_service_code'), ['service_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_appt_booking_state'), ['state'], unique=False)


def downgrade() -> None:
    op.drop_table('gov_services_appt_booking')
    op.drop_table('gov_services_appt_slot_rule')
    op.drop_table('gov_services_appt_hours')
    op.drop_table('gov_services_appt_counter')
