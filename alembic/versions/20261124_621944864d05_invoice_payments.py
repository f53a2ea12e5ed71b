"""Invoice payments: provider, reference, the last attempt's message and the number of attempts.

Revision ID: 621944864d05
Revises: 737a938fb1bf
Create Date: 2026-11-24 01:35:34.057345
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = '621944864d05'
down_revision: str | None = '737a938fb1bf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('payment_reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(
            sa.Column('payment_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False, server_default='')
        )
        batch_op.add_column(sa.Column('payment_attempts', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.alter_column('payment_note', server_default=None)
        batch_op.alter_column('payment_attempts', server_default=None)



def downgrade() -> None:
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_column('payment_attempts')
        batch_op.drop_column('payment_note')
        batch_op.drop_column('payment_reference')
        batch_op.drop_column('payment_provider')

