"""Alerts: rules a customer's admins set, their state changes, and the in-app notification centre.

Revision ID: d5e6f7a8b903
Revises: d5e6f7a8b902
Create Date: 2026-11-24 10:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = 'd5e6f7a8b903'
down_revision: str | None = 'd5e6f7a8b902'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('alert_rule',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('threshold', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('seat_id', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('grant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('metric_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('group_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('group_value', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alert_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_rule_customer_id'), ['customer_id'], unique=False)

    op.create_table('alert_state_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('period_start', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('from_state', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('to_state', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('value', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('cause', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rule.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('rule_id', 'customer_id', 'seq')
    )
    with op.batch_alter_table('alert_state_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_state_change_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_state_change_rule_id'), ['rule_id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('body', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))

    op.drop_table('notification')
    with op.batch_alter_table('alert_state_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_state_change_rule_id'))
        batch_op.drop_index(batch_op.f('ix_alert_state_change_customer_id'))

    op.drop_table('alert_state_change')
    with op.batch_alter_table('alert_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rule_customer_id'))

    op.drop_table('alert_rule')
