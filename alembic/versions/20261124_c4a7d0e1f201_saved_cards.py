"""Saved cards: the card on file for a customer, as Stripe reported it after a SetupIntent.

Revision ID: c4a7d0e1f201
Revises: b0f79f8b4ab7
Create Date: 2026-11-24 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'c4a7d0e1f201'
down_revision: str | None = 'b0f79f8b4ab7'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
