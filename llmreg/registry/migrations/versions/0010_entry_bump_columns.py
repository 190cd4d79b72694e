"""Entries keep their bump and bump reason beside the version.

Revision ID: 0010
Revises: 0009

`llmreg list NAME` printed each version's bump by reading it out of the entry.registered
event's JSON (about 2 KB parsed per row: 1.4 s at 100k versions). The projection now
writes both with the entry row, in the event's transaction; this fills them for entries
registered before. Both come from the hashed event, so a rebuild writes the same values
and `audit verify` compares them like every projected column.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("entries", sa.Column("bump", sa.Text))
    op.add_column("entries", sa.Column("bump_reason", sa.Text))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text(
            "UPDATE entries n SET bump = e.payload::json -> 'entry' ->> 'bump', "
            "bump_reason = e.payload::json -> 'entry' ->> 'bump_reason' FROM events e WHERE e.seq = n.seq"))
    else:
        bind.execute(sa.text(
            "UPDATE entries SET (bump, bump_reason) = (SELECT json_extract(e.payload, '$.entry.bump'), "
            "json_extract(e.payload, '$.entry.bump_reason') FROM events e WHERE e.seq = entries.seq)"))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("bump_reason")
        batch.drop_column("bump")
