"""Entries are read from the log; on SQLite the log is keyed by its rowid.

Revision ID: 0003
Revises: 0002

Registration wrote the release tuple twice: in its entry.registered event (the source of
truth) and again in entries.body. The body column goes; reads join entries.seq to the
event. On SQLite, events.seq becomes INTEGER PRIMARY KEY (the rowid), so an append writes
one b-tree instead of the table plus a separate key index. Together they cut the pages a
registration writes (and the checkpoint later syncs) by about a third.

The events table is copied row for row on SQLite (every column verbatim, so the hash chain
is untouched); the append-only triggers are dropped for the copy and created again.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EVENT_COLUMNS = "seq, time, actor, type, name, version, env, payload, evidence, prev_hash, hash"
EVENT_INDEXES = (("ix_events_name_env_seq", ["name", "env", "seq"]),
                 ("ix_events_name_version_seq", ["name", "version", "seq"]),
                 ("ix_events_time", ["time"]))


def _rebuild_sqlite_events(seq_type) -> None:
    # Columns a later revision added and its downgrade kept (0005's signer/signature, when
    # events were signed) are copied too: nothing recorded is lost on the way down or up.
    later = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("events")
             if c["name"] not in EVENT_COLUMNS.split(", ")]
    columns = ", ".join([EVENT_COLUMNS, *later])
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS events_append_only_{action}")
    op.create_table(
        "events_rebuilt",
        sa.Column("seq", seq_type, primary_key=True, autoincrement=False),
        sa.Column("time", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("version", sa.Text),
        sa.Column("env", sa.Text),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        *(sa.Column(name, sa.Text) for name in later),
    )
    op.execute(f"INSERT INTO events_rebuilt ({columns}) SELECT {columns} FROM events ORDER BY seq")
    op.drop_table("events")  # its indexes go with it
    op.rename_table("events_rebuilt", "events")
    for index, columns in EVENT_INDEXES:
        op.create_index(index, "events", columns)
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER events_append_only_{action.lower()} BEFORE {action} ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only: record a new event instead'); END"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_events(sa.Integer)
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("body")


def downgrade() -> None:
    from llmreg.registry.canonical import canonical_json

    bind = op.get_bind()
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("body", sa.Text, nullable=False, server_default=""))
    rows = bind.execute(sa.text(
        "SELECT n.name, n.version, e.payload FROM entries n JOIN events e ON e.seq = n.seq")).fetchall()
    update = sa.text("UPDATE entries SET body = :body WHERE name = :name AND version = :version")
    for name, version, payload in rows:
        body = canonical_json(json.loads(payload)["entry"]).decode("utf-8")
        bind.execute(update, {"body": body, "name": name, "version": version})
    with op.batch_alter_table("entries") as batch:
        batch.alter_column("body", server_default=None)
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite_events(sa.BigInteger)
