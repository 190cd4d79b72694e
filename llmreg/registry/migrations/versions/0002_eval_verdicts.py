"""Eval records keep the report's own verdict (passed, failed_checks) for the staging gate.

Revision ID: 0002
Revises: 0001

Data only: eval_records.report held the normalised EvalRef; it now also holds what the
report said about its own suite checks. Existing rows are re-derived from their
eval.recorded events (the log keeps each report as given), exactly as a rebuild would.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from llmreg.registry.canonical import canonical_json
    from llmreg.registry.store.projection import eval_record

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT r.seq, r.report, e.payload FROM eval_records r JOIN events e ON e.seq = r.seq ORDER BY r.seq"
    )).fetchall()
    update = sa.text("UPDATE eval_records SET report = :report WHERE seq = :seq")
    for seq, stored, payload in rows:
        derived = canonical_json(eval_record(json.loads(payload))).decode("utf-8")
        if derived != stored:
            bind.execute(update, {"report": derived, "seq": seq})


def downgrade() -> None:
    from llmreg.registry.canonical import canonical_json

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT seq, report FROM eval_records")).fetchall()
    update = sa.text("UPDATE eval_records SET report = :report WHERE seq = :seq")
    for seq, stored in rows:
        data = json.loads(stored)
        if "passed" in data or "failed_checks" in data:
            data.pop("passed", None)
            data.pop("failed_checks", None)
            bind.execute(update, {"report": canonical_json(data).decode("utf-8"), "seq": seq})
