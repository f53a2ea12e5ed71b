"""Spend caps: a hard cap on a customer's or a seat's spend per period.

``spend_cap`` holds one row per capped customer (``seat_id`` NULL) or seat; see portal.services.spend_caps.

Revision ID: d5e6f7a8b901
Revises: c4a7d0e1f203
Create Date: 2026-11-24 10:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'd5e6f7a8b901'
down_revision: str | None = 'c4a7d0e1f203'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('spend_cap',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('seat_id', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('amount', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('updated_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'seat_id')
    )


def downgrade() -> None:
    op.drop_table('spend_cap')
