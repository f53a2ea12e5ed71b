"""Enterprise alerts: budgets at 80% and 100%, commitments projected to run out before their term ends.

Revision ID: 3df47acff0d6
Revises: 9edb55ad7898
Create Date: 2026-11-24 07:04:10.628763
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = '3df47acff0d6'
down_revision: str | None = '9edb55ad7898'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('enterprise_alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enterprise_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('period_start', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('raised_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enterprise_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subject_id', 'kind', 'period_start', name='uq_enterprise_alert_once')
    )
    with op.batch_alter_table('enterprise_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enterprise_alert_enterprise_id'), ['enterprise_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enterprise_alert_raised_at'), ['raised_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('enterprise_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enterprise_alert_raised_at'))
        batch_op.drop_index(batch_op.f('ix_enterprise_alert_enterprise_id'))

    op.drop_table('enterprise_alert')
