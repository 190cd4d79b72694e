"""The delivery outbox port, and an in-memory implementation for unit tests.

One row per (event, matching subscription), written by the registry in the same transaction
as the event; rows are delivered in id order per subscription. Every attempt is one row of
the delivery log, written atomically with the state change it causes.

The SQL implementation (the integrating store) must pass tests/notify/test_outbox_contract.py.
"""
from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol

from llmreg.registry.errors import NotFound

from .subscriptions import Subscription

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"  # FAILED: gave up after the last attempt


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    subscription_id: str
    event: Mapping[str, Any]  # {seq, type, name, version, env, actor, at, data}
    attempts: int = 0
    next_attempt_at: float = 0.0  # unix seconds; 0: due now
    state: str = PENDING
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One row of the delivery log (`llmreg webhooks deliveries`)."""

    item_id: int
    subscription_id: str
    event_seq: Any
    event_type: str
    attempt: int
    at: float
    ok: bool
    status: int | None
    error: str | None = None
    duration_ms: float | None = None
    retry_at: float | None = None


class Outbox(Protocol):
    def pending(self, limit: int = 100, *, skip: Collection[str] = ()) -> list[OutboxItem]:
        """Undelivered items not given up on, in id order (due or not: the worker keeps a
        subscription's later items behind its head's retry time), leaving out the
        subscriptions in `skip` (those the worker holds back, so they cannot crowd out others)."""

    def claim(self, id: int, seen: float, until: float) -> bool:
        """Take item `id` for one attempt: only while it is pending and its next_attempt_at is
        still `seen` (what this worker read), move that to `until`. False: another worker took
        it first. A worker that dies holding it leaves it due again at `until` (at least once)."""

    def mark_delivered(self, id: int, status: int, *, at: float, duration_ms: float | None = None) -> None:
        """Record a successful attempt; the item leaves `pending()`."""

    def mark_failed(self, id: int, error: str, retry_at: float | None, *, at: float, status: int | None = None,
                    duration_ms: float | None = None) -> None:
        """Record a failed attempt; retry at `retry_at`, or give up (state failed) when None."""

    def attempts(self, subscription_id: str | None = None) -> list[DeliveryAttempt]:
        """The delivery log, oldest first."""


def rows_for(event: Mapping[str, Any], subscriptions: Iterable[Subscription]) -> list[tuple[str, Mapping[str, Any]]]:
    """(subscription id, event) for each subscription the event matches: what the registry
    inserts into the outbox in the event's own transaction."""
    return [(sub.id, event) for sub in subscriptions
            if sub.matches(str(event.get("type")), event.get("name"), event.get("data"))]


@dataclass
class MemoryOutbox:
    """Thread-safe in-memory Outbox for unit tests (no persistence, so no crash safety)."""

    _items: dict[int, OutboxItem] = field(default_factory=dict)
    _log: list[DeliveryAttempt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, subscription_id: str, event: Mapping[str, Any]) -> int:
        with self._lock:
            ident = max(self._items, default=0) + 1
            self._items[ident] = OutboxItem(ident, subscription_id, MappingProxyType(dict(event)))
            return ident

    def item(self, id: int) -> OutboxItem:
        with self._lock:
            return self._get(id)

    def _get(self, id: int) -> OutboxItem:
        if id not in self._items:
            raise NotFound(f"outbox item {id}: no such delivery")
        return self._items[id]

    def pending(self, limit: int = 100, *, skip: Collection[str] = ()) -> list[OutboxItem]:
        with self._lock:
            return [i for _, i in sorted(self._items.items())
                    if i.state == PENDING and i.subscription_id not in skip][:limit]

    def claim(self, id: int, seen: float, until: float) -> bool:
        with self._lock:
            item = self._get(id)
            if item.state != PENDING or item.next_attempt_at != seen:
                return False
            self._items[id] = replace(item, next_attempt_at=until)
            return True

    def _log_attempt(self, item: OutboxItem, *, at, ok, status, error, duration_ms, retry_at) -> None:
        self._log.append(DeliveryAttempt(item.id, item.subscription_id, item.event.get("seq"), str(item.event.get("type")),
                                         item.attempts + 1, at, ok, status, error, duration_ms, retry_at))

    def mark_delivered(self, id: int, status: int, *, at: float, duration_ms: float | None = None) -> None:
        with self._lock:
            item = self._get(id)
            self._log_attempt(item, at=at, ok=True, status=status, error=None, duration_ms=duration_ms, retry_at=None)
            self._items[id] = replace(item, attempts=item.attempts + 1, state=DELIVERED, last_error=None)

    def mark_failed(self, id: int, error: str, retry_at: float | None, *, at: float, status: int | None = None,
                    duration_ms: float | None = None) -> None:
        with self._lock:
            item = self._get(id)
            self._log_attempt(item, at=at, ok=False, status=status, error=error, duration_ms=duration_ms, retry_at=retry_at)
            self._items[id] = replace(item, attempts=item.attempts + 1, last_error=error,
                                      state=PENDING if retry_at is not None else FAILED,
                                      next_attempt_at=retry_at if retry_at is not None else item.next_attempt_at)

    def attempts(self, subscription_id: str | None = None) -> list[DeliveryAttempt]:
        with self._lock:
            return [a for a in self._log if subscription_id is None or a.subscription_id == subscription_id]
