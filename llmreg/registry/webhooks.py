"""Webhook subscriptions as registry state: which events go to which endpoint.

A subscription is configuration, so adding or removing one is an audited, signed event
(`webhook.subscribed`, `webhook.unsubscribed`, action `configure`) folded into the
`webhook_subscriptions` table, which `audit verify` checks against the log like any other.
When an appended event matches a subscription (event type list + shell glob over the entry
name), the store writes one `webhook_outbox` row in the event's own transaction
(store/sql.py, store/memory.py): a rolled-back event sends nothing, a committed one is
never lost. llmreg.notify sends the rows (signed POSTs, retries, the delivery log).

What the log does not hold: the endpoint's full URL (its path or query often is a token:
Slack's incoming-webhook URLs are) and the HMAC secret. The event records the URL's origin
and the SHA-256 of the full URL; the URL and secret live in the operational table
`webhook_secrets`, written in the same transaction, which only the sender reads (the
PostgreSQL reader role gets no grant on it). The sender refuses an endpoint whose URL no
longer hashes to the recorded digest, so a destination changed outside the log is caught.

Pure: no pydantic (the store imports `Route` on the write path).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping

from llmreg.registry import events as ev
from llmreg.registry.errors import BadInput

FORMATS = ("json", "slack")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_SECRET = 16
MAX_ATTEMPTS = 50


# Types a subscription may name that no event carries: an event of the base type whose payload
# field is false. "Notify me when a drill fails" must not mean "every weekly drill".
DERIVED_TYPES: dict[str, tuple[str, str]] = {"rollback.drill.failed": (ev.ROLLBACK_DRILL, "ok")}


def event_types() -> tuple[str, ...]:
    """The event types a subscription may name (besides `*`): every type the registry writes,
    and the derived ones."""
    return tuple(sorted(ev.KNOWN_TYPES | DERIVED_TYPES.keys()))


def _derived_match(names: frozenset[str], event_type: str, payload: Mapping[str, Any] | None) -> bool:
    return payload is not None and any(
        base == event_type and payload.get(field) is False
        for derived, (base, field) in DERIVED_TYPES.items() if derived in names)


@dataclass(frozen=True, slots=True)
class Route:
    """What the store needs to decide, per appended event, which subscriptions get a row."""

    id: str
    events: frozenset[str]  # event types, or {"*"}
    name_pattern: str  # shell glob over the entry name; "*" also matches events without one

    def matches(self, event_type: str, name: str | None, payload: Mapping[str, Any] | None = None) -> bool:
        if "*" not in self.events and event_type not in self.events and \
                not _derived_match(self.events, event_type, payload):
            return False
        return self.name_pattern == "*" or (name is not None and fnmatchcase(name, self.name_pattern))


@dataclass(frozen=True, slots=True)
class WebhookSubscription:
    """One row of webhook_subscriptions (the fold of the log): no URL path, no secret."""

    id: str
    origin: str  # scheme://host[:port] of the endpoint
    url_sha256: str  # of the full URL kept in webhook_secrets
    events: tuple[str, ...]
    name_pattern: str
    format: str
    max_attempts: int
    seq: int  # the webhook.subscribed event
    actor: str

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], seq: int, actor: str) -> "WebhookSubscription":
        return cls(str(payload["id"]), str(payload["origin"]), str(payload["url_sha256"]),
                   tuple(payload["events"]), str(payload.get("name_pattern") or "*"),
                   str(payload.get("format") or "json"), int(payload.get("max_attempts") or 8), seq, actor)

    def route(self) -> Route:
        return Route(self.id, frozenset(self.events), self.name_pattern)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "url_sha256": self.url_sha256, "events": list(self.events),
                "name_pattern": self.name_pattern, "format": self.format, "max_attempts": self.max_attempts,
                "seq": self.seq, "actor": self.actor}


def url_digest(url: str) -> str:
    import hashlib  # write side only: the read verbs import this module through the store

    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def outbox_event(event: ev.Event) -> dict[str, Any]:
    """The event as a delivery carries it (notify/payloads.py renders it)."""
    return {"seq": event.seq, "type": event.type, "name": event.name, "version": event.version, "env": event.env,
            "actor": event.actor, "at": event.time, "data": dict(event.payload)}


def outbox_json(event: ev.Event) -> str:
    return json.dumps(outbox_event(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def routes(subscriptions: Iterable[WebhookSubscription]) -> tuple[Route, ...]:
    return tuple(sub.route() for sub in subscriptions)


# ---------------------------------------------------------------------- commands

@dataclass(frozen=True)
class Subscribe:
    url: str
    events: tuple[str, ...]
    name_pattern: str
    format: str
    max_attempts: int
    secret: str
    actor: str
    id: str | None = None  # None: the handler names it wh-<seq of its event>

    def __repr__(self) -> str:  # never print the secret (tracebacks, logs)
        return f"Subscribe(id={self.id!r}, origin={origin(self.url)!r}, events={self.events!r}, actor={self.actor!r})"


@dataclass(frozen=True)
class Unsubscribe:
    id: str
    actor: str


def _bad(field: str, message: str) -> BadInput:
    return BadInput(f"{field}: {message}", field=field)


def parse_events(events: str | Iterable[str]) -> tuple[str, ...]:
    """`stage.promoted,gate.failed` or a list -> checked tuple (known types or `*`, each once)."""
    items = [e.strip() for e in (events.split(",") if isinstance(events, str) else events)]
    items = [e for e in items if e]
    if not items:
        raise _bad("events", "name at least one event type, e.g. --events stage.promoted,stage.rolled_back "
                             "(or * for every event)")
    known = event_types()
    for item in items:
        if item != "*" and item not in known:
            from difflib import get_close_matches

            close = get_close_matches(item, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise _bad("events", f"{item!r} is not a registry event type; {hint}use * or some of {', '.join(known)}")
    if len(set(items)) != len(items):
        raise _bad("events", "lists an event type twice; keep each once")
    return tuple(items)


def subscribe_command(url: str, events: str | Iterable[str], *, secret: str, actor: str, name_pattern: str = "*",
                      format: str = "json", max_attempts: int = 8, id: str | None = None) -> Subscribe:
    from llmreg.registry.handlers.guard import check_actor

    actor = check_actor(actor)
    if not isinstance(url, str) or len(url) > 2000:
        raise _bad("url", "give an http(s) URL of at most 2000 characters")
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("url", f"{url[:80]!r} is not an http(s) URL; e.g. https://hooks.example.com/llmreg")
    if parts.username or parts.password:
        raise _bad("url", "must not carry credentials (user:password@); the HMAC secret authenticates deliveries")
    if id is not None and not ID_RE.match(id):
        raise _bad("id", f"{id[:80]!r}: use letters, digits, . _ - (max 64), starting with a letter or digit")
    if not isinstance(name_pattern, str) or not name_pattern or len(name_pattern) > 200:
        raise _bad("name", "give a shell glob over entry names of at most 200 characters, e.g. 'support-*' (* = all)")
    if format not in FORMATS:
        raise _bad("format", f"{format!r}: use json (signed envelope) or slack (Slack incoming-webhook message)")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise _bad("max_attempts", f"{max_attempts!r}: use a whole number from 1 to {MAX_ATTEMPTS}")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET or secret != secret.strip():
        raise _bad("secret", f"give at least {MIN_SECRET} characters without surrounding spaces "
                             "(e.g. `openssl rand -hex 32`), or leave it out to have one generated")
    return Subscribe(url, parse_events(events), name_pattern, format, max_attempts, secret, actor, id)


def unsubscribe_command(id: str, *, actor: str) -> Unsubscribe:
    from llmreg.registry.handlers.guard import check_actor

    actor = check_actor(actor)
    if not isinstance(id, str) or not ID_RE.match(id):
        raise _bad("id", f"{str(id)[:80]!r} is not a subscription id; `llmreg webhooks list` shows them")
    return Unsubscribe(id, actor)


# ---------------------------------------------------------------------- the facade part

class RegistryWebhooks:
    """Webhook subscriptions on `Registry` (api.py mixes this in; it provides `_run` and `store`).

        reg.add_webhook("https://hooks.example.com/llmreg", "stage.promoted,gate.failed",
                        secret=os.environ["HOOK_SECRET"], name_pattern="support-*", actor="admin")
        reg.webhook_subscriptions()          # what the log says is subscribed
        reg.remove_webhook("wh-42", actor="admin")

    llmreg.notify sends what the outbox holds (`llmreg webhooks deliver`)."""

    store: Any
    _run: Any

    def add_webhook(self, url: str, events: str | Iterable[str], *, secret: str, actor: str, name_pattern: str = "*",
                    format: str = "json", max_attempts: int = 8, id: str | None = None) -> WebhookSubscription:
        """Subscribe `url` to `events` (types, comma-separated or a list; `*` for all) of entries whose
        name matches `name_pattern`; audited as webhook.subscribed (needs `configure`)."""
        from llmreg.registry.handlers import webhooks as handlers

        cmd = subscribe_command(url, events, secret=secret, actor=actor, name_pattern=name_pattern, format=format,
                                max_attempts=max_attempts, id=id)
        event = self._run(handlers.subscribe, cmd)[-1]
        return WebhookSubscription.from_payload(event.payload, event.seq, event.actor)

    def remove_webhook(self, id: str, *, actor: str) -> ev.Event:
        """Unsubscribe; audited as webhook.unsubscribed (needs `configure`). Deliveries already
        queued for it are given up by the sender, visible in the delivery log."""
        from llmreg.registry.handlers import webhooks as handlers

        return self._run(handlers.unsubscribe, unsubscribe_command(id, actor=actor))[-1]

    def webhook_subscriptions(self) -> list[WebhookSubscription]:
        return list(self.store.webhook_subscriptions())
