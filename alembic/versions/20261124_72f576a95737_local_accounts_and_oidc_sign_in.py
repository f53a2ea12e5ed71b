"""Local accounts and OpenID Connect sign-in: verified email, sign-up company, the OpenID identity (issuer and
subject, unique together), one-time email links, and failed sign-ins for rate limiting.

Users that exist before this revision were created by staff or the demo, not by self-service sign-up: their
email addresses count as verified from the moment they were created.

Revision ID: 72f576a95737
Revises: 621944864d05
Create Date: 2026-11-24 01:41:14.916184
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import portal.db.types


revision: str = '72f576a95737'
down_revision: str | None = '621944864d05'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sign_in_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_failure_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_failure_client_address'), ['client_address'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_failure_email'), ['email'], unique=False)

    op.create_table('account_token',
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_token_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('company_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default='')
        )
        batch_op.add_column(sa.Column('email_verified_at', portal.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('oidc_issuer', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))
        batch_op.add_column(sa.Column('oidc_subject', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.create_unique_constraint('uq_app_user_oidc_identity', ['oidc_issuer', 'oidc_subject'])
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.alter_column('company_name', server_default=None)
    op.execute("UPDATE app_user SET email_verified_at = created_at")



def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_constraint('uq_app_user_oidc_identity', type_='unique')
        batch_op.drop_column('oidc_subject')
        batch_op.drop_column('oidc_issuer')
        batch_op.drop_column('email_verified_at')
        batch_op.drop_column('company_name')

    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_token_user_id'))

    op.drop_table('account_token')
    with op.batch_alter_table('sign_in_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_failure_email'))
        batch_op.drop_index(batch_op.f('ix_sign_in_failure_client_address'))
        batch_op.drop_index(batch_op.f('ix_sign_in_failure_at'))

    op.drop_table('sign_in_failure')
