"""Outgoing webhooks: customer endpoints, system events and their deliveries.

Revision ID: d5e6f7a8b902
Revises: d5e6f7a8b901
Create Date: 2026-11-24 10:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'd5e6f7a8b902'
down_revision: str | None = 'd5e6f7a8b901'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
