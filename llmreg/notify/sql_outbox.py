"""The outbox on SQL (SQLite, PostgreSQL) with SQLAlchemy Core: the sender's side.

The registry's store writes the rows (`webhook_outbox`, registry/store/schema.py, migration
0008) in the event's own transaction: a rolled-back event sends nothing, a committed one is
never lost. `SqlOutbox` is the worker's side; each mark_* updates the row and appends its
delivery-log row (`webhook_attempts`) in one transaction, so a worker killed at any point
leaves the item pending and it is sent again (at least once). Several workers may share a
database: each claims an item (`claim`, a compare-and-set on its next_attempt_at) before
sending it, so two never send the same item at once, and a subscription's later items wait
behind the one another worker holds.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import func, insert, select, update

from llmreg.registry.errors import NotFound
from llmreg.registry.store.schema import webhook_attempts, webhook_outbox

from .outbox import DELIVERED, FAILED, PENDING, DeliveryAttempt, OutboxItem

__all__ = ["SqlOutbox", "webhook_attempts", "webhook_outbox"]


def _item(row) -> OutboxItem:
    return OutboxItem(row.id, row.subscription_id, json.loads(row.event), row.attempts, row.next_attempt_at,
                      row.state, row.last_error)


class SqlOutbox:
    def __init__(self, engine):
        self.engine = engine

    def add(self, subscription_id: str, event: Mapping[str, Any]) -> int:
        """One delivery in its own transaction (tests: the registry's store queues them in the event's)."""
        with self.engine.begin() as conn:
            result = conn.execute(insert(webhook_outbox).values(
                subscription_id=subscription_id, event_seq=int(event["seq"]), event_type=str(event["type"]),
                event=json.dumps(dict(event), sort_keys=True, separators=(",", ":"), default=str),
                state=PENDING, attempts=0, next_attempt_at=0.0))
            return int(result.inserted_primary_key[0])

    def item(self, id: int) -> OutboxItem:
        with self.engine.connect() as conn:
            row = conn.execute(select(webhook_outbox).where(webhook_outbox.c.id == id)).first()
        if row is None:
            raise NotFound(f"outbox item {id}: no such delivery")
        return _item(row)

    def pending(self, limit: int = 100, *, skip: Collection[str] = ()) -> list[OutboxItem]:
        query = select(webhook_outbox).where(webhook_outbox.c.state == PENDING)
        if skip:
            query = query.where(webhook_outbox.c.subscription_id.not_in(sorted(skip)))
        query = query.order_by(webhook_outbox.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(query)]

    def claim(self, id: int, seen: float, until: float) -> bool:
        with self.engine.begin() as conn:
            taken = conn.execute(update(webhook_outbox).where(
                webhook_outbox.c.id == id, webhook_outbox.c.state == PENDING,
                webhook_outbox.c.next_attempt_at == seen).values(next_attempt_at=until)).rowcount
        return taken == 1

    def _attempt(self, id: int, *, at: float, ok: bool, status: int | None, error: str | None,
                 duration_ms: float | None, retry_at: float | None, state: str) -> None:
        with self.engine.begin() as conn:
            # The UPDATE first: on SQLite it takes the write lock at once (waiting out a registry
            # writer), where a SELECT first would hold a read lock that cannot be upgraded.
            values: dict[str, Any] = {"attempts": webhook_outbox.c.attempts + 1, "state": state, "last_error": error}
            if retry_at is not None:
                values["next_attempt_at"] = retry_at
            if conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == id).values(**values)).rowcount != 1:
                raise NotFound(f"outbox item {id}: no such delivery")
            row = conn.execute(select(webhook_outbox).where(webhook_outbox.c.id == id)).one()
            conn.execute(insert(webhook_attempts).values(
                outbox_id=id, subscription_id=row.subscription_id, event_seq=row.event_seq, event_type=row.event_type,
                attempt=row.attempts, at=at, ok=ok, status=status, error=error, duration_ms=duration_ms,
                retry_at=retry_at))

    def mark_delivered(self, id: int, status: int, *, at: float, duration_ms: float | None = None) -> None:
        self._attempt(id, at=at, ok=True, status=status, error=None, duration_ms=duration_ms, retry_at=None,
                      state=DELIVERED)

    def mark_failed(self, id: int, error: str, retry_at: float | None, *, at: float, status: int | None = None,
                    duration_ms: float | None = None) -> None:
        self._attempt(id, at=at, ok=False, status=status, error=error, duration_ms=duration_ms, retry_at=retry_at,
                      state=PENDING if retry_at is not None else FAILED)

    def attempts(self, subscription_id: str | None = None, *, limit: int | None = None) -> list[DeliveryAttempt]:
        """The delivery log, oldest first (`limit`: the newest `limit` attempts)."""
        query = select(webhook_attempts)
        if subscription_id is not None:
            query = query.where(webhook_attempts.c.subscription_id == subscription_id)
        if limit is not None:
            query = query.order_by(webhook_attempts.c.id.desc()).limit(limit)
        else:
            query = query.order_by(webhook_attempts.c.id)
        with self.engine.connect() as conn:
            rows = [DeliveryAttempt(r.outbox_id, r.subscription_id, r.event_seq, r.event_type, r.attempt, r.at, r.ok,
                                    r.status, r.error, r.duration_ms, r.retry_at) for r in conn.execute(query)]
        return rows[::-1] if limit is not None else rows

    def counts(self, subscription_id: str | None = None) -> dict[str, int]:
        """{pending, delivered, failed}: how many deliveries are in each state."""
        query = select(webhook_outbox.c.state, func.count()).group_by(webhook_outbox.c.state)
        if subscription_id is not None:
            query = query.where(webhook_outbox.c.subscription_id == subscription_id)
        out = {PENDING: 0, DELIVERED: 0, FAILED: 0}
        with self.engine.connect() as conn:
            out.update({state: int(n) for state, n in conn.execute(query)})
        return out
