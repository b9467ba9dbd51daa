"""documents: document table

Revision ID: ad9c50328f15
Revises:
Create Date: 2026-12-07 15:53:33

The document table: one signed document per application and kind.
"""

import sqlalchemy as sa
from alembic import op

import core.toolkit

revision = 'ad9c50328f15'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('documents_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('service_code', sa.String(length=60), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('community', sa.String(length=12), nullable=True),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('signature', sa.String(length=100), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('issued_at', core.toolkit.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', core.toolkit.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_reason', sa.Text(), nullable=False),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['identity_user.id'], name=op.f('fk_documents_document_revoked_by_id_identity_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents_document')),
    sa.UniqueConstraint('application_id', 'kind', name=op.f('uq_documents_document_application_id_kind')),
    sa.UniqueConstraint('code', name=op.f('uq_documents_document_code'))
    )
    with op.batch_alter_table('documents_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_document_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_document_community'), ['community'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_document_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_document_reference'), ['reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_document_service_code'), ['service_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('documents_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_document_service_code'))
        batch_op.drop_index(batch_op.f('ix_documents_document_reference'))
        batch_op.drop_index(batch_op.f('ix_documents_document_person_id'))
        batch_op.drop_index(batch_op.f('ix_documents_document_community'))
        batch_op.drop_index(batch_op.f('ix_documents_document_application_id'))

    op.drop_table('documents_document')
