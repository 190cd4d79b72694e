"""The SQL schema as SQLAlchemy metadata: the event log, the head row and the projection.

`events` is append-only and the source of truth (triggers refuse UPDATE/DELETE; the hash
chain detects edits made around them). `head` is a single row every writer locks first,
so appends are serialised and the chain cannot fork. The other tables are the projection
of the log, written in the same transaction as the event that changes them and rebuilt
from the log by `SQLStore.rebuild_projection()`.

Migrations (llmreg/registry/migrations) create exactly this schema; a contract test compares the
migrated database with this metadata.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, MetaData, Table, Text, UniqueConstraint

metadata = MetaData()

head = Table(
    "head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", Text, nullable=False),
    Column("time", Text, nullable=False),
    Column("config_seq", BigInteger, nullable=False),
)

events = Table(
    "events", metadata,
    # INTEGER on SQLite makes seq the rowid: an append writes one b-tree, not a table plus a key index.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("time", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("name", Text),
    Column("version", Text),
    Column("env", Text),
    Column("payload", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("signer", Text),  # key fingerprint, hashed with the body (NULL on events from before 0007)
    Column("signature", Text),  # base64 SSHSIG over `hash`
    Index("ix_events_name_env_seq", "name", "env", "seq"),
    Index("ix_events_name_version_seq", "name", "version", "seq"),
    Index("ix_events_time", "time"),
    Index("ix_events_signer", "signer", "seq"),
)

entries = Table(
    "entries", metadata,
    Column("name", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("vmajor", Integer, nullable=False),
    Column("vminor", Integer, nullable=False),
    Column("vpatch", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("digest", Text, nullable=False),
    # No copy of the entry here: it is read from the entry.registered event at `seq`.
    Index("ix_entries_name_semver", "name", "vmajor", "vminor", "vpatch"),
)

# Which version holds each stage of each environment; resolve is one primary-key lookup here.
stage_pointers = Table(
    "stage_pointers", metadata,
    Column("name", Text, primary_key=True),
    Column("env", Text, primary_key=True),
    Column("stage", Text, primary_key=True),
    Column("version", Text, nullable=False),
    Column("weight", Float),
    Column("seq", BigInteger, nullable=False),
    Column("time", Text, nullable=False),
)

# Who held each stage of each environment from `since` on (version NULL: nobody), one row per
# change, written with the event that made it: `resolve --at` is one index seek here, not a
# replay. `seq`/`since` are the event's; `seq` orders two changes of one transaction.
stage_history = Table(
    "stage_history", metadata,
    Column("name", Text, primary_key=True),
    Column("env", Text, primary_key=True),
    Column("stage", Text, primary_key=True),
    Column("since", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("version", Text),
    Column("weight", Float),
)

# Each version's status per environment ("retired" needs history, so it is kept, not derived).
version_states = Table(
    "version_states", metadata,
    Column("name", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("env", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("was_production", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

approvals = Table(
    "approvals", metadata,
    Column("name", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("env", Text, primary_key=True),
    Column("stage", Text, primary_key=True),
    Column("actor", Text, primary_key=True),
    Column("granted", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

reviews = Table(
    "reviews", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("env", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("notes", Text, nullable=False),
    Index("ix_reviews_name_version_env", "name", "version", "env"),
)

evidence = Table(
    "evidence", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("env", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_evidence_name_version_env", "name", "version", "env"),
)

eval_records = Table(
    "eval_records", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("suite", Text, nullable=False),
    Column("suite_version", Text),
    Column("score", Float, nullable=False),
    Column("actor", Text, nullable=False),
    Column("report", Text, nullable=False),
    Index("ix_eval_records_name_version", "name", "version"),
)

suites = Table(
    "suites", metadata,
    Column("name", Text, primary_key=True),
    Column("version", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("threshold", Float),
    Column("definition", Text, nullable=False),
)

# The public half of every key that signed an event, written with its first event. Not
# hashed, and it needs not be: an event's hash covers its signer's fingerprint, the SHA-256
# of the key, so a substituted key cannot match. Not projection: rebuilds keep it.
signing_keys = Table(
    "signing_keys", metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("public_key", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
)

config = Table(
    "config", metadata,
    Column("key", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("value", Text, nullable=False),
)

# Provider snapshots' change log folded from provider.snapshot events (providers.apply):
# one JSON record per snapshot, so discovery and qualification read one row, not the log.
provider_snapshots = Table(
    "provider_snapshots", metadata,
    Column("key", Text, primary_key=True),
    Column("provider", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_provider_snapshots_provider", "provider"),
)

# The last recorded state of each provider's model list (provider.discovery events).
provider_discovery = Table(
    "provider_discovery", metadata,
    Column("provider", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("record", Text, nullable=False),
)

# The gateway's per-call log (llmreg/serving/call_log.py writes it). High-volume operational
# data, not audit events: it lives in the registry's database and migration history so one
# `upgrade` brings every table a deployment reads to the same revision.
gateway_calls = Table(
    "gateway_calls", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("request_id", Text, nullable=False),
    Column("time", Text, nullable=False),  # UTC, fixed width: string order is time order
    Column("endpoint", Text, nullable=False),  # chat | completion | responses
    Column("name", Text),  # NULL when the request failed before naming an entry
    Column("version", Text),
    Column("env", Text),
    Column("stage", Text),
    Column("variant", Text),  # production | canary | shadow | staging | pinned
    Column("status", Integer, nullable=False),  # HTTP status returned (shadow: what it would have been)
    Column("error", Text),
    Column("latency_ms", Float, nullable=False),  # gateway receive -> response ready
    Column("upstream_ms", Float),  # time inside the backend
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("caller", Text),  # blake2b of the caller key, never the key itself
    Column("replica", Text),
    Column("agrees", Integer),  # shadow rows: 1 when the shadow's answer equals the served one
    Column("experiment", Text),  # 'EXPERIMENT/VARIANT' for calls an experiment assigned
    Column("ttft_ms", Float),  # streamed calls: backend call start -> first token
    Index("ix_gateway_calls_name_env_version_id", "name", "env", "version", "id"),
    Index("ix_gateway_calls_time", "time"),
    Index("ix_gateway_calls_experiment", "experiment"),
)

# Webhook subscriptions folded from webhook.subscribed/unsubscribed events (registry/webhooks.py):
# projection, so `audit verify` compares it with the log. No URL path, no secret here.
webhook_subscriptions = Table(
    "webhook_subscriptions", metadata,
    Column("id", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("origin", Text, nullable=False),
    Column("url_sha256", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON list of event types, or ["*"]
    Column("name_pattern", Text, nullable=False),
    Column("format", Text, nullable=False),
    Column("max_attempts", Integer, nullable=False),
)

# Operational, not projection (rebuilds keep them), never in the log:
# - webhook_secrets: each subscription's full URL and HMAC secret, written in its event's
#   transaction; only the sender reads it (the PostgreSQL reader role gets no grant).
# - webhook_outbox: one row per (event, matching subscription), written in the event's
#   transaction; the sender moves `state` and counts attempts (llmreg/notify/sql_outbox.py).
# - webhook_attempts: the delivery log, one row per attempt.
_ROWID = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's autoincrementing rowid

webhook_secrets = Table(
    "webhook_secrets", metadata,
    Column("subscription_id", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
)

webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("subscription_id", Text, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event", Text, nullable=False),  # JSON {seq, type, name, version, env, actor, at, data}
    Column("state", Text, nullable=False),  # pending | delivered | failed (given up)
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),  # unix seconds; 0: due now
    Column("last_error", Text),
    UniqueConstraint("event_seq", "subscription_id", name="uq_webhook_outbox_event_subscription"),
    Index("ix_webhook_outbox_state_id", "state", "id"),
)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", _ROWID, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=False),
    Column("subscription_id", Text, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status", Integer),
    Column("error", Text),
    Column("duration_ms", Float),
    Column("retry_at", Float),
    Index("ix_webhook_attempts_subscription_id", "subscription_id", "id"),
)
