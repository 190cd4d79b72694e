"""Initial schema: event log, head row, projection tables, append-only triggers.

Revision ID: 0001
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("time", sa.Text, nullable=False),
        sa.Column("config_seq", sa.BigInteger, nullable=False),
    )
    op.execute(sa.text("INSERT INTO head (id, seq, hash, time, config_seq) VALUES (1, 0, :h, '', 0)")
               .bindparams(h=GENESIS_HASH))
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
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
    )
    op.create_index("ix_events_name_env_seq", "events", ["name", "env", "seq"])
    op.create_index("ix_events_name_version_seq", "events", ["name", "version", "seq"])
    op.create_index("ix_events_time", "events", ["time"])
    op.create_table(
        "entries",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("vmajor", sa.Integer, nullable=False),
        sa.Column("vminor", sa.Integer, nullable=False),
        sa.Column("vpatch", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_entries_name_semver", "entries", ["name", "vmajor", "vminor", "vpatch"])
    op.create_table(
        "stage_pointers",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("env", sa.Text, primary_key=True),
        sa.Column("stage", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("weight", sa.Float),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("time", sa.Text, nullable=False),
    )
    op.create_table(
        "version_states",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("env", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("was_production", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("env", sa.Text, primary_key=True),
        sa.Column("stage", sa.Text, primary_key=True),
        sa.Column("actor", sa.Text, primary_key=True),
        sa.Column("granted", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("env", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
    )
    op.create_index("ix_reviews_name_version_env", "reviews", ["name", "version", "env"])
    op.create_table(
        "evidence",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("env", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_evidence_name_version_env", "evidence", ["name", "version", "env"])
    op.create_table(
        "eval_records",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("suite", sa.Text, nullable=False),
        sa.Column("suite_version", sa.Text),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )
    op.create_index("ix_eval_records_name_version", "eval_records", ["name", "version"])
    op.create_table(
        "suites",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("threshold", sa.Float),
        sa.Column("definition", sa.Text, nullable=False),
    )
    op.create_table(
        "config",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    _append_only_triggers()


def _append_only_triggers() -> None:
    """The log is append-only: refuse UPDATE/DELETE in the database itself.

    Someone with DDL rights can drop the triggers; the hash chain still detects the edit.
    """
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_append_only_{action.lower()} BEFORE {action} ON events "
                "BEGIN SELECT RAISE(ABORT, 'events are append-only: record a new event instead'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION llmreg_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'events are append-only: record a new event instead'; END $$"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION llmreg_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION llmreg_events_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in ("config", "suites", "eval_records", "evidence", "reviews", "approvals",
                  "version_states", "stage_pointers", "entries", "events", "head"):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS llmreg_events_append_only()")
