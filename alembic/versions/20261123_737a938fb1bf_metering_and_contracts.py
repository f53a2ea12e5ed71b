"""Metering and contracts: metrics, products, rate cards, contracts and their terms, seats, grants, ledger,
invoices, rollups, API keys.

Revision ID: 737a938fb1bf
Revises: ede49e6e7c98
Create Date: 2026-11-24 00:13:16.949658
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = '737a938fb1bf'
down_revision: str | None = 'ede49e6e7c98'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('billable_metric',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('aggregation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('aggregation_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('group_keys', sa.JSON(), nullable=False),
    sa.Column('archived_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('billable_metric', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_billable_metric_event_type'), ['event_type'], unique=False)

    op.create_table('rate_card',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('usage_rollup',
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('metric_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('group_values', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('bucket_start', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'metric_id', 'group_values', 'bucket_start')
    )
    op.create_table('contract',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('starting_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ending_before', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('billing_frequency', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('seat_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('parent_contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('payer', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('statement', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.ForeignKeyConstraint(['parent_contract_id'], ['contract.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contract_parent_contract_id'), ['parent_contract_id'], unique=False)

    op.create_table('product',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('metric_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('conversion_factor', portal.db.types.DecimalText(length=64), nullable=True),
    sa.Column('conversion_operation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('rounding_mode', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('rounding_places', sa.Integer(), nullable=True),
    sa.Column('pricing_group_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('presentation_group_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['metric_id'], ['billable_metric.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_key',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_key_customer_id'), ['customer_id'], unique=False)

    op.create_table('budget_cap',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('credit_type_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('amount', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('behaviour', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['child_contract_id'], ['contract.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('child_contract_id', 'credit_type_id')
    )
    op.create_table('credit_grant',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('credit_type_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('amount', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('starting_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ending_before', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('applicable_product_ids', sa.JSON(), nullable=True),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('seat_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('child_access', sa.JSON(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('credit_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_grant_contract_id'), ['contract_id'], unique=False)

    op.create_table('invoice',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('customer_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('period_start', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('total_minor', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('finalized_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voided_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_contract_id'), ['contract_id'], unique=False)

    op.create_table('rate',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('rate_card_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('product_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('starting_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ending_before', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('price', sa.JSON(), nullable=False),
    sa.Column('credit_type_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('entitled', sa.Boolean(), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.ForeignKeyConstraint(['rate_card_id'], ['rate_card.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_rate_card_id'), ['rate_card_id'], unique=False)

    op.create_table('seat_subscription',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('started_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('seat_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contract_id')
    )
    op.create_table('contract_terms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('starting_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('package_version_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('rate_card_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], ),
    sa.ForeignKeyConstraint(['package_version_id'], ['package_version.id'], ),
    sa.ForeignKeyConstraint(['rate_card_id'], ['rate_card.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contract_id', 'starting_at')
    )
    with op.batch_alter_table('contract_terms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_terms_contract_id'), ['contract_id'], unique=False)

    op.create_table('ledger_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('grant_contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('amount', portal.db.types.DecimalText(length=64), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('contract_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('seat_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grant_contract_id'], ['contract.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entry_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entry_grant_contract_id'), ['grant_contract_id'], unique=False)

    op.create_table('seat_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('seat_ids', sa.JSON(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_id'], ['seat_subscription.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('seat_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seat_change_subscription_id'), ['subscription_id'], unique=False)

    with op.batch_alter_table('package_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rate_card_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('seat_product_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        # Existing versions get the defaults the models use for new ones.
        batch_op.add_column(sa.Column('overrides', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(
            sa.Column('pool_per_seat', portal.db.types.DecimalText(length=64), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column(
            'seat_increases', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False,
            server_default='prorate_immediately',
        ))
        batch_op.add_column(sa.Column(
            'seat_decreases', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False,
            server_default='at_period_end',
        ))
        batch_op.add_column(sa.Column(
            'credit_proration', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default='prorated'
        ))
        batch_op.add_column(sa.Column('entitlements', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_foreign_key('fk_package_version_rate_card', 'rate_card', ['rate_card_id'], ['id'])
        batch_op.create_foreign_key('fk_package_version_seat_product', 'product', ['seat_product_id'], ['id'])

    # The defaults were only for rows that existed before; the models set values from now on.
    with op.batch_alter_table('package_version', schema=None) as batch_op:
        for column in ('overrides', 'pool_per_seat', 'seat_increases', 'seat_decreases', 'credit_proration',
                       'entitlements'):
            batch_op.alter_column(column, server_default=None)



def downgrade() -> None:
    with op.batch_alter_table('package_version', schema=None) as batch_op:
        batch_op.drop_constraint('fk_package_version_seat_product', type_='foreignkey')
        batch_op.drop_constraint('fk_package_version_rate_card', type_='foreignkey')
        batch_op.drop_column('entitlements')
        batch_op.drop_column('credit_proration')
        batch_op.drop_column('seat_decreases')
        batch_op.drop_column('seat_increases')
        batch_op.drop_column('pool_per_seat')
        batch_op.drop_column('overrides')
        batch_op.drop_column('seat_product_id')
        batch_op.drop_column('rate_card_id')

    with op.batch_alter_table('seat_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seat_change_subscription_id'))

    op.drop_table('seat_change')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entry_grant_contract_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_entry_grant_id'))

    op.drop_table('ledger_entry')
    with op.batch_alter_table('contract_terms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_terms_contract_id'))

    op.drop_table('contract_terms')
    op.drop_table('seat_subscription')
    with op.batch_alter_table('rate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_rate_card_id'))

    op.drop_table('rate')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_customer_id'))
        batch_op.drop_index(batch_op.f('ix_invoice_contract_id'))

    op.drop_table('invoice')
    with op.batch_alter_table('credit_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_grant_contract_id'))

    op.drop_table('credit_grant')
    op.drop_table('budget_cap')
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_key_customer_id'))

    op.drop_table('api_key')
    op.drop_table('product')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_parent_contract_id'))
        batch_op.drop_index(batch_op.f('ix_contract_customer_id'))

    op.drop_table('contract')
    op.drop_table('usage_rollup')
    op.drop_table('rate_card')
    with op.batch_alter_table('billable_metric', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billable_metric_event_type'))

    op.drop_table('billable_metric')
