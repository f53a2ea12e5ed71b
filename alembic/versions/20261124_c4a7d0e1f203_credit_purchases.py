"""Credit purchases and auto-recharge: prepaid credits bought with money.

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
    pass


def downgrade() -> None:
    pass
