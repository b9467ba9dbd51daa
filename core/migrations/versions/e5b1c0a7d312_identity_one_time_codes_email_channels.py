"""identity: one-time codes, e-mail addresses, proved phones, notice opt-out, message templates

Revision ID: e5b1c0a7d312
Revises: dc97deb6bf6f
Create Date: 2026-12-07 08:30:00.000000

Sign-up, self-service verification and password reset prove possession of a phone or a
mailbox with a one-time code (``identity_otp``, only an HMAC of the code stored). Accounts
gain an e-mail address and the times the phone and the address were proved; messages gain
the template, parameters and language an SMS provider's template call needs, and the
attempts and send time the admin messages page reports.
"""
import sqlalchemy as sa
from alembic import op

import core.db

revision = 'e5b1c0a7d312'
down_revision = 'dc97deb6bf6f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('identity_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_verified_at', core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('email', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('email_verified_at', core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('notices_opt_out', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.create_unique_constraint(batch_op.f('uq_identity_user_email'), ['email'])
    with op.batch_alter_table('identity_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=60), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('sent_at', core.db.UTCDateTime(), nullable=True))
    op.create_table(
        'identity_otp',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('recipient', sa.String(length=200), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('expires_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('tries', sa.Integer(), nullable=False),
        sa.Column('consumed_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_otp')),
    )
    with op.batch_alter_table('identity_otp', schema=None) as batch_op:
        batch_op.create_index('ix_identity_otp_recipient_purpose', ['recipient', 'purpose'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_identity_otp_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('identity_otp', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_otp_user_id'))
        batch_op.drop_index('ix_identity_otp_recipient_purpose')
    op.drop_table('identity_otp')
    with op.batch_alter_table('identity_message', schema=None) as batch_op:
        for name in ('sent_at', 'attempts', 'locale', 'params', 'template'):
            batch_op.drop_column(name)
    with op.batch_alter_table('identity_user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_identity_user_email'), type_='unique')
        for name in ('notices_opt_out', 'email_verified_at', 'email', 'phone_verified_at'):
            batch_op.drop_column(name)
