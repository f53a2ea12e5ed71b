"""Rate changes: a proposed price for one product of a rate card from a future instant; simulations of them.

Revision ID: fd26c7e40dd2
Revises: 348d4ab2f442
Create Date: 2026-11-24 04:44:18.114606
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'fd26c7e40dd2'
down_revision: str | None = '348d4ab2f442'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rate_change',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('rate_card_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('product_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('starting_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('price', sa.JSON(), nullable=False),
    sa.Column('credit_type_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('scheduled_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.ForeignKeyConstraint(['rate_card_id'], ['rate_card.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_change_rate_card_id'), ['rate_card_id'], unique=False)

    with op.batch_alter_table('simulation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_change_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.alter_column('package_version_id',
               existing_type=sa.VARCHAR(length=40),
               nullable=True)
        batch_op.create_index(batch_op.f('ix_simulation_rate_change_id'), ['rate_change_id'], unique=False)
        batch_op.create_foreign_key('fk_simulation_rate_change_id', 'rate_change', ['rate_change_id'], ['id'])



def downgrade() -> None:
    op.execute("DELETE FROM simulation WHERE package_version_id IS NULL")  # simulations of rate changes go with them
    with op.batch_alter_table('simulation', schema=None) as batch_op:
        batch_op.drop_constraint('fk_simulation_rate_change_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_simulation_rate_change_id'))
        batch_op.alter_column('package_version_id',
               existing_type=sa.VARCHAR(length=40),
               nullable=False)
        batch_op.drop_column('rate_change_id')

    with op.batch_alter_table('rate_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_change_rate_card_id'))

    op.drop_table('rate_change')
