"""Included grants: the credits or commits a package version includes every billing period.

Revision ID: 9edb55ad7898
Revises: fd26c7e40dd2
Create Date: 2026-11-24 05:26:59.090330
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = '9edb55ad7898'
down_revision: str | None = 'fd26c7e40dd2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('package_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('included_grants', sa.JSON(), server_default='[]', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('package_version', schema=None) as batch_op:
        batch_op.drop_column('included_grants')

