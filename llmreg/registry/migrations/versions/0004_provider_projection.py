"""Provider snapshots become a projection, kept in the transaction of their events.

Revision ID: 0004
Revises: 0003

Discovery and qualification used to fold every provider.snapshot event of the log on each
call, inside write transactions too. The fold's result is now kept in provider_snapshots
(one JSON record per snapshot) and provider_discovery (one per provider), written with the
event that changes them; this migration fills them from the existing log.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from llmreg.registry.store.projection import apply_event, statements

    op.create_table(
        "provider_snapshots",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index("ix_provider_snapshots_provider", "provider_snapshots", ["provider"])
    op.create_table(
        "provider_discovery",
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT seq, time, actor, type, name, version, env, payload FROM events "
        "WHERE type IN ('provider.snapshot', 'provider.discovery') ORDER BY seq")).fetchall()
    if not rows:
        return
    dbapi = bind.connection.dbapi_connection
    cur = dbapi.cursor()
    sql = statements(bind.dialect.name)
    for seq, time, actor, type_, name, version, env, payload in rows:
        apply_event(cur, sql, seq, time, actor, type_, name, version, env, json.loads(payload))


def downgrade() -> None:
    op.drop_table("provider_discovery")
    op.drop_index("ix_provider_snapshots_provider", "provider_snapshots")
    op.drop_table("provider_snapshots")
