"""Webhooks: subscriptions (projection), their endpoints, the outbox and the delivery log.

Revision ID: 0008
Revises: 0007

`webhook_subscriptions` is folded from webhook.subscribed/unsubscribed events, and those
events move head.config_seq (the key of the configuration caches). A store that never ran
this code has none; one that was downgraded and upgraded again gets both back from its log
here (its secrets were dropped with the feature: re-add those subscriptions to send again). `webhook_secrets` (full URL + HMAC
secret), `webhook_outbox` (one row per event and matching subscription, written in the
event's transaction) and `webhook_attempts` (the delivery log) are operational. Columns are
spelled out here (not imported from schema.py) because a migration must stay as written.
"""
from __future__ import annotations

import json

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
    _fold_subscriptions()


WEBHOOK_TYPES = ("webhook.subscribed", "webhook.unsubscribed")
CONFIG_TYPES = ("config.roles", "config.gates", "config.approvals", "config.drift") + WEBHOOK_TYPES


def _config_seq(bind, types) -> int:
    found = bind.execute(sa.text("SELECT max(seq) FROM events WHERE type IN :types")
                         .bindparams(sa.bindparam("types", expanding=True)), {"types": list(types)}).scalar()
    return int(found or 0)


def _fold_subscriptions() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT seq, actor, type, payload FROM events WHERE type IN :types ORDER BY seq")
                        .bindparams(sa.bindparam("types", expanding=True)), {"types": list(WEBHOOK_TYPES)}).all()
    if not rows:
        return
    live: dict[str, dict] = {}
    for seq, actor, type_, payload in rows:
        data = json.loads(payload)
        if type_ == "webhook.subscribed":
            live[data["id"]] = {"id": data["id"], "seq": seq, "actor": actor, "origin": data["origin"],
                                "url_sha256": data["url_sha256"],
                                "events": json.dumps(list(data["events"]), separators=(",", ":"), ensure_ascii=False),
                                "name_pattern": data.get("name_pattern") or "*", "format": data.get("format") or "json",
                                "max_attempts": int(data.get("max_attempts") or 8)}
        else:
            live.pop(data["id"], None)
    if live:
        bind.execute(sa.text("INSERT INTO webhook_subscriptions (id, seq, actor, origin, url_sha256, events, "
                             "name_pattern, format, max_attempts) VALUES (:id, :seq, :actor, :origin, :url_sha256, "
                             ":events, :name_pattern, :format, :max_attempts)"), list(live.values()))
    bind.execute(sa.text("UPDATE head SET config_seq = :seq WHERE id = 1"), {"seq": _config_seq(bind, CONFIG_TYPES)})


def downgrade() -> None:
    # An older release knows no webhook.* events (it stores and ignores them) and moves
    # config_seq on roles and gates only: give it the head it would have folded. The
    # operational tables go with the feature.
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE head SET config_seq = :seq WHERE id = 1"),
                 {"seq": _config_seq(bind, ("config.roles", "config.gates"))})
    for table in ("webhook_attempts", "webhook_outbox", "webhook_secrets", "webhook_subscriptions"):
        op.drop_table(table)
