"""Spend caps: a hard cap on a customer's or a seat's spend per period.

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
    pass


def downgrade() -> None:
    pass
