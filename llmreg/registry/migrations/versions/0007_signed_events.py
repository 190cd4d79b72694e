"""Events carry their signer's key fingerprint and signature.

Revision ID: 0007
Revises: 0006

`signer` (SHA256:... of the ed25519 key) is part of the hashed body of a signed event;
`signature` (base64 SSHSIG over the hash) is stored beside it. Events written before this
revision keep both NULL and their hashes unchanged. The index answers "which member first
signed with this key" (identity.py, embedded mode) without scanning the log.
`signing_keys` keeps the public half of each key that signed (the log holds fingerprints).
A downgrade keeps whatever holds signatures: nothing recorded is dropped.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _columns() -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns("events")}


def upgrade() -> None:
    present = _columns()  # a downgrade keeps them when events were signed (see below)
    for column in ("signer", "signature"):
        if column not in present:
            op.add_column("events", sa.Column(column, sa.Text))
    op.create_index("ix_events_signer", "events", ["signer", "seq"])
    if sa.inspect(op.get_bind()).has_table("signing_keys"):  # kept by a downgrade
        return
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_events_signer", table_name="events")
    signed_keys = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM signing_keys")).scalar()
    if not signed_keys:
        op.drop_table("signing_keys")
    signed = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM events WHERE signer IS NOT NULL")).scalar()
    if signed:
        # The signer is hashed into those events and the signatures are the record: the
        # columns stay (nothing committed is lost); an older release reads the other columns.
        return
    op.drop_column("events", "signature")
    op.drop_column("events", "signer")
