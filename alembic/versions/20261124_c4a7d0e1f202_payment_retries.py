"""Payment retries: when a failed invoice payment is tried again, and period close.

``payment_failed_at`` anchors the retry schedule, ``next_payment_at`` is when the billing job collects the invoice
(again), and ``closes_period`` marks the one invoice that closes a contract's period (unique with the contract and
the period start; NULL on the other invoices of the period).

Revision ID: c4a7d0e1f202
Revises: c4a7d0e1f201
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'c4a7d0e1f202'
down_revision: str | None = 'c4a7d0e1f201'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_failed_at', portal.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_payment_at', portal.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('closes_period', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('opens_period', sa.Boolean(), nullable=True))
        batch_op.create_index(batch_op.f('ix_invoice_next_payment_at'), ['next_payment_at'], unique=False)
        batch_op.create_unique_constraint(
            'uq_invoice_period_close', ['contract_id', 'period_start', 'closes_period']
        )
        batch_op.create_unique_constraint('uq_invoice_period_open', ['contract_id', 'period_start', 'opens_period'])


def downgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_constraint('uq_invoice_period_open', type_='unique')
        batch_op.drop_constraint('uq_invoice_period_close', type_='unique')
        batch_op.drop_index(batch_op.f('ix_invoice_next_payment_at'))
        batch_op.drop_column('opens_period')
        batch_op.drop_column('closes_period')
        batch_op.drop_column('next_payment_at')
        batch_op.drop_column('payment_failed_at')
