"""Credit purchases and auto-recharge: prepaid credits bought with money.

``credit_purchase`` holds each purchase (its invoice, and the grant made once that invoice is paid: unique, so a
purchase is granted once); ``auto_recharge`` holds each customer's auto-recharge settings, its last outcome and the
claim of the recharge in flight.

Revision ID: c4a7d0e1f203
Revises: c4a7d0e1f202
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'c4a7d0e1f203'
down_revision: str | None = 'c4a7d0e1f202'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('auto_recharge',
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('threshold', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('target', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('last_outcome', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('turned_off_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recharging_since', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('customer_id')
    )
    op.create_table('credit_purchase',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('credit_type_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('credits', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('price_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('invoice_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('grant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('request_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['grant_id'], ['credit_grant.id'], ),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'request_key', name='uq_credit_purchase_request'),
    sa.UniqueConstraint('grant_id'),
    sa.UniqueConstraint('invoice_id')
    )
    with op.batch_alter_table('credit_purchase', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_purchase_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('credit_purchase', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_purchase_customer_id'))

    op.drop_table('credit_purchase')
    op.drop_table('auto_recharge')
