"""The gateway's call log joins the registry's migration history.

Revision ID: 0005
Revises: 0004

Before this revision the gateway created `gateway_calls` itself and added columns with its
own guarded ALTERs. A database that already has the table keeps every row and gains only
what it lacks; a new one gets the whole table. Columns are spelled out here (not imported
from schema.py) because a migration must stay as it was written.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "gateway_calls"
LATER_COLUMNS = (("experiment", sa.Text), ("ttft_ms", sa.Float))
INDEXES = (("ix_gateway_calls_name_env_version_id", ["name", "env", "version", "id"]),
           ("ix_gateway_calls_time", ["time"]),
           ("ix_gateway_calls_experiment", ["experiment"]))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("request_id", sa.Text, nullable=False),
            sa.Column("time", sa.Text, nullable=False),
            sa.Column("endpoint", sa.Text, nullable=False),
            *(sa.Column(name, sa.Text) for name in ("name", "version", "env", "stage", "variant")),
            sa.Column("status", sa.Integer, nullable=False),
            sa.Column("error", sa.Text),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.Column("upstream_ms", sa.Float),
            sa.Column("prompt_tokens", sa.Integer),
            sa.Column("completion_tokens", sa.Integer),
            sa.Column("caller", sa.Text),
            sa.Column("replica", sa.Text),
            sa.Column("agrees", sa.Integer),
            *(sa.Column(name, kind) for name, kind in LATER_COLUMNS),
        )
    else:
        present = {column["name"] for column in inspector.get_columns(TABLE)}
        for name, kind in LATER_COLUMNS:
            if name not in present:
                op.add_column(TABLE, sa.Column(name, kind))
    indexes = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(TABLE)}
    for name, columns in INDEXES:
        if name not in indexes:
            op.create_index(name, TABLE, columns)


def downgrade() -> None:
    # The table stays: the gateway before this revision manages it itself, and call rows are
    # operational history nobody asked to lose.
    pass
