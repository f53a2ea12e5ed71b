"""Saved cards: the card on file for a customer, as Stripe reported it after a SetupIntent.

Revision ID: c4a7d0e1f201
Revises: b0f79f8b4ab7
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'c4a7d0e1f201'
down_revision: str | None = 'b0f79f8b4ab7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customer') as batch:
        batch.add_column(sa.Column('card_reference', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch.add_column(
            sa.Column('card_brand', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default='')
        )
        batch.add_column(
            sa.Column('card_last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False, server_default='')
        )
        batch.add_column(
            sa.Column('card_expires', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False, server_default='')
        )
    with op.batch_alter_table('customer') as batch:
        for column in ('card_brand', 'card_last4', 'card_expires'):
            batch.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('customer') as batch:
        for column in ('card_expires', 'card_last4', 'card_brand', 'card_reference'):
            batch.drop_column(column)
