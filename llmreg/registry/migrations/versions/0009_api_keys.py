"""Gateway API keys become registry state: the api_keys projection of apikey.* events.

Revision ID: 0009
Revises: 0008

Keys used to live in the gateway's own tables (gateway_api_keys, gateway_api_key_events,
created by the gateway at start-up). They are not moved into the log: an event is signed
by the member who acts, and a migration holds nobody's key (an unsigned event after signed
ones fails `audit verify`, by design). So those tables are left as they are, read by
nobody but `llmreg api-key list` (which shows them as legacy), and the gateway refuses
their keys with 401 naming `llmreg api-key create`; while any legacy key exists, `auth.mode:
auto` keeps requiring keys, so upgrading never opens a gateway that was closed. An admin
re-creates the keys that are still needed (signed, audited) and drops the old tables when
done. This migration creates api_keys and folds any apikey.* events already in the log
(there are some after a downgrade and upgrade).
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from llmreg.registry.store.projection import apply_event, statements

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("revoked_seq", sa.BigInteger),
        sa.Column("revoked_at", sa.Text),
        sa.Column("revoked_by", sa.Text),
        sa.Column("reason", sa.Text),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT seq, time, actor, type, name, version, env, payload FROM events "
        "WHERE type IN ('apikey.created', 'apikey.revoked') ORDER BY seq")).fetchall()
    if not rows:
        return
    cur = bind.connection.dbapi_connection.cursor()
    sql = statements(bind.dialect.name)
    for seq, time, actor, type_, name, version, env, payload in rows:
        apply_event(cur, sql, seq, time, actor, type_, name, version, env, json.loads(payload))


def downgrade() -> None:
    # The apikey.* events stay in the log (an older release stores them and folds nothing).
    op.drop_table("api_keys")
