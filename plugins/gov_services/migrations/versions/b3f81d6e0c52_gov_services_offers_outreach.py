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
    op.create_table('gov_services_outreach_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=60), nullable=False),
    sa.Column('community', sa.String(length=12), nullable=True),
    sa.Column('grid', sa.String(length=15), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('offered_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', core.toolkit.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rounds', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gov_services_outreach_item')),
    sa.UniqueConstraint('finding_id', name=op.f('uq_gov_services_outreach_item_finding_id')),
    sa.UniqueConstraint('person_id', 'service_code', name=op.f('uq_gov_services_outreach_item_person_id_service_code'))
    )
    with op.batch_alter_table('gov_services_outreach_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gov_services_outreach_item_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_outreach_item_community'), ['community'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_outreach_item_grid'), ['grid'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_outreach_item_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gov_services_outreach_item_state'), ['state'], unique=False)

    op.create_table('gov_services_outreach_contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['gov_services_outreach_item.id'], name=op.f('fk_gov_services_outreach_contact_item_id_gov_services_outreach_item'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gov_services_outreach_contact'))
    )
    with op.batch_alter_table('gov_services_outreach_contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gov_services_outreach_contact_item_id'), ['item_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gov_services_outreach_contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gov_services_outreach_contact_item_id'))

    op.drop_table('gov_services_outreach_contact')
    with op.batch_alter_table('gov_services_outreach_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gov_services_outreach_item_state'))
        batch_op.drop_index(batch_op.f('ix_gov_services_outreach_item_person_id'))
        batch_op.drop_index(batch_op.f('ix_gov_services_outreach_item_grid'))
        batch_op.drop_index(batch_op.f('ix_gov_services_outreach_item_community'))
        batch_op.drop_index(batch_op.f('ix_gov_services_outreach_item_channel'))

    op.drop_table('gov_services_outreach_item')
