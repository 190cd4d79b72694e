"""The SQL store's webhook part (registry/webhooks.py): outbox rows written by `append` in the
event's own transaction, the endpoints table, and the per-store cache of routes.

Cost with no subscription: `append` compares the transaction's config_seq with the cached
routes' key (two integers) and finds an empty tuple. The cache is keyed by head.config_seq,
which every writer reads under the head lock anyway and which every webhook.* event moves
(events.CONFIG_SEQ_TYPES): a subscription added by another process is seen by the next
transaction here, with one query then and none after.
"""
from __future__ import annotations

import json

TYPE_CHECKING = False  # webhooks.py loads when a transaction first reads the routes, not for the read verbs
if TYPE_CHECKING:
    from typing import Any

    from llmreg.registry.events import Event
    from llmreg.registry.webhooks import Route

WEBHOOK_SQL = {
    "webhook_routes": "SELECT id, events, name_pattern FROM webhook_subscriptions ORDER BY id",
    "insert_outbox": "INSERT INTO webhook_outbox (subscription_id, event_seq, event_type, event, state, attempts, "
                     "next_attempt_at) VALUES (?, ?, ?, ?, 'pending', 0, 0)",
    "put_endpoint": "INSERT INTO webhook_secrets (subscription_id, url, secret) VALUES (?, ?, ?) "
                    "ON CONFLICT (subscription_id) DO UPDATE SET url = excluded.url, secret = excluded.secret",
    "drop_endpoint": "DELETE FROM webhook_secrets WHERE subscription_id = ?",
    "endpoint": "SELECT url, secret FROM webhook_secrets WHERE subscription_id = ?",
    "outbox_rows": "SELECT id, subscription_id, event FROM webhook_outbox WHERE id > ? ORDER BY id",
}


def _load_routes(cur, sql: str) -> tuple[Route, ...]:
    from llmreg.registry.webhooks import Route

    cur.execute(sql)
    return tuple(Route(ident, frozenset(json.loads(events)), pattern) for ident, events, pattern in cur.fetchall())


class SQLWebhookWrites:
    """Mixed into SQLUnitOfWork (which provides store, cur, head, config_seq)."""

    store: Any
    cur: Any
    head: Any
    config_seq: int
    _txn_routes: tuple[int, tuple[Route, ...]] | None = None

    def _routes(self) -> tuple[Route, ...]:
        store = self.store
        if self.config_seq == self.head.config_seq:  # no subscription changed in this transaction
            cached = store._routes_cache
            if cached is None or cached[0] != self.config_seq:
                cached = store._routes_cache = (self.config_seq, _load_routes(self.cur, store._q["webhook_routes"]))
            return cached[1]
        # Changed by this transaction: read what it sees, and keep it from other writers until it commits.
        mine = self._txn_routes
        if mine is None or mine[0] != self.config_seq:
            mine = self._txn_routes = (self.config_seq, _load_routes(self.cur, self.store._q["webhook_routes"]))
        return mine[1]

    def _queue_deliveries(self, event: Event) -> None:
        matched = [route.id for route in self._routes() if route.matches(event.type, event.name, event.payload)]
        if matched:
            from llmreg.registry.webhooks import outbox_json

            body = outbox_json(event)
            sql = self.store._q["insert_outbox"]
            for ident in matched:
                self.cur.execute(sql, (ident, event.seq, event.type, body))

    def put_webhook_endpoint(self, id: str, url: str, secret: str) -> None:
        self.cur.execute(self.store._q["put_endpoint"], (id, url, secret))

    def drop_webhook_endpoint(self, id: str) -> None:
        self.cur.execute(self.store._q["drop_endpoint"], (id,))


class SQLWebhookStore:
    """Mixed into SQLStore (which provides _row, _rows)."""

    _routes_cache: tuple[int, tuple[Route, ...]] | None = None
    _row: Any
    _rows: Any

    def webhook_endpoint(self, id: str) -> tuple[str, str] | None:
        row = self._row("endpoint", (id,))
        return (row[0], row[1]) if row else None

    def outbox_rows(self, after_id: int = 0) -> list[tuple[int, str, dict]]:
        return [(ident, sub, json.loads(event)) for ident, sub, event in self._rows("outbox_rows", (after_id,))]

