"""Webhooks: subscriptions (projection), their endpoints, the outbox and the delivery log.

Revision ID: 0008
Revises: 0007

`webhook_subscriptions` is folded from webhook.subscribed/unsubscribed events (a store
before this revision has none, so it starts empty). `webhook_secrets` (full URL + HMAC
secret), `webhook_outbox` (one row per event and matching subscription, written in the
event's transaction) and `webhook_attempts` (the delivery log) are operational. Columns are
spelled out here (not imported from schema.py) because a migration must stay as written.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ROWID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("url_sha256", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("name_pattern", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
    )
    op.create_table(
        "webhook_secrets",
        sa.Column("subscription_id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Text, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("event_seq", "subscription_id", name="uq_webhook_outbox_event_subscription"),
    )
    op.create_index("ix_webhook_outbox_state_id", "webhook_outbox", ["state", "id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _ROWID, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.BigInteger, nullable=False),
        sa.Column("subscription_id", sa.Text, nullable=False),
        sa.Column("event_seq", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Float),
        sa.Column("retry_at", sa.Float),
    )
    op.create_index("ix_webhook_attempts_subscription_id", "webhook_attempts", ["subscription_id", "id"])


def downgrade() -> None:
    # An older release knows no webhook.* events (it stores and ignores them); the operational
    # tables go with the feature.
    for table in ("webhook_attempts", "webhook_outbox", "webhook_secrets", "webhook_subscriptions"):
        op.drop_table(table)
