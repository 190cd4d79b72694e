"""The outbox on SQL (SQLite, PostgreSQL) with SQLAlchemy Core.

`enqueue(conn, event, subscriptions)` inserts one row per matching subscription on the
caller's connection, so the registry writes it in the event's own transaction: a rolled-back
event sends nothing, a committed one is never lost. `SqlOutbox` is the worker's side; each
mark_* updates the row and appends its delivery-log row in one transaction, so a worker
killed at any point leaves the item pending and it is sent again (at least once).

These tables belong in the registry schema (store/schema.py + a migration); until they move
there, `metadata.create_all(engine)` creates them. Run one worker per database: two would
both send an item before either marks it.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from llmreg.registry.errors import NotFound

from .outbox import DELIVERED, FAILED, PENDING, DeliveryAttempt, OutboxItem, rows_for
from .subscriptions import Subscription

metadata = MetaData()
_ID = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's autoincrementing rowid

webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("subscription_id", Text, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event", Text, nullable=False),            # JSON {seq, type, name, version, env, actor, at, data}
    Column("state", Text, nullable=False),            # pending | delivered | failed (given up)
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),  # unix seconds
    Column("last_error", Text),
    UniqueConstraint("event_seq", "subscription_id", name="uq_webhook_outbox_event_subscription"),
    Index("ix_webhook_outbox_state_id", "state", "id"),
)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
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


def enqueue(conn, event: Mapping[str, Any], subscriptions: Iterable[Subscription]) -> int:
    """Insert the event's deliveries on `conn` (inside the caller's transaction); returns how many."""
    rows = [{"subscription_id": sid, "event_seq": int(ev["seq"]), "event_type": str(ev["type"]),
             "event": json.dumps(dict(ev), sort_keys=True, separators=(",", ":"), default=str),
             "state": PENDING, "attempts": 0, "next_attempt_at": 0.0, "last_error": None}
            for sid, ev in rows_for(event, subscriptions)]
    if rows:
        conn.execute(insert(webhook_outbox), rows)
    return len(rows)


def _item(row) -> OutboxItem:
    return OutboxItem(row.id, row.subscription_id, json.loads(row.event), row.attempts, row.next_attempt_at,
                      row.state, row.last_error)


class SqlOutbox:
    def __init__(self, engine):
        self.engine = engine

    def add(self, subscription_id: str, event: Mapping[str, Any]) -> int:
        """One delivery, in its own transaction (tests; the registry uses `enqueue`)."""
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

    def _attempt(self, id: int, *, at: float, ok: bool, status: int | None, error: str | None,
                 duration_ms: float | None, retry_at: float | None, state: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(webhook_outbox).where(webhook_outbox.c.id == id).with_for_update()).first()
            if row is None:
                raise NotFound(f"outbox item {id}: no such delivery")
            conn.execute(insert(webhook_attempts).values(
                outbox_id=id, subscription_id=row.subscription_id, event_seq=row.event_seq, event_type=row.event_type,
                attempt=row.attempts + 1, at=at, ok=ok, status=status, error=error, duration_ms=duration_ms,
                retry_at=retry_at))
            values: dict[str, Any] = {"attempts": row.attempts + 1, "state": state, "last_error": error}
            if retry_at is not None:
                values["next_attempt_at"] = retry_at
            conn.execute(update(webhook_outbox).where(webhook_outbox.c.id == id).values(**values))

    def mark_delivered(self, id: int, status: int, *, at: float, duration_ms: float | None = None) -> None:
        self._attempt(id, at=at, ok=True, status=status, error=None, duration_ms=duration_ms, retry_at=None,
                      state=DELIVERED)

    def mark_failed(self, id: int, error: str, retry_at: float | None, *, at: float, status: int | None = None,
                    duration_ms: float | None = None) -> None:
        self._attempt(id, at=at, ok=False, status=status, error=error, duration_ms=duration_ms, retry_at=retry_at,
                      state=PENDING if retry_at is not None else FAILED)

    def attempts(self, subscription_id: str | None = None) -> list[DeliveryAttempt]:
        query = select(webhook_attempts).order_by(webhook_attempts.c.id)
        if subscription_id is not None:
            query = query.where(webhook_attempts.c.subscription_id == subscription_id)
        with self.engine.connect() as conn:
            return [DeliveryAttempt(r.outbox_id, r.subscription_id, r.event_seq, r.event_type, r.attempt, r.at, r.ok,
                                    r.status, r.error, r.duration_ms, r.retry_at) for r in conn.execute(query)]
