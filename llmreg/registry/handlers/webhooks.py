"""Webhook subscriptions (registry/webhooks.py): add and remove, as `configure` events.

The event and the endpoint row (full URL + HMAC secret, operational, never in the log) are
written in one transaction: a subscription is never half added or half removed.
"""
from __future__ import annotations

from llmreg.registry import events as ev
from llmreg.registry.errors import Conflict, NotFound
from llmreg.registry.events import Event
from llmreg.registry.handlers.guard import Deps, authorize
from llmreg.registry.store.port import UnitOfWork
from llmreg.registry.webhooks import Subscribe, Unsubscribe, origin, url_digest


def subscribe(cmd: Subscribe, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    ident = cmd.id or f"wh-{uow.next_seq}"  # seqs are never reused, so neither are these ids
    if any(sub.id == ident for sub in uow.webhook_subscriptions()):
        raise Conflict(f"id: a subscription {ident!r} exists; `llmreg webhooks remove {ident}` first, or pick "
                       "another --id")
    payload = {"id": ident, "origin": origin(cmd.url), "url_sha256": url_digest(cmd.url), "events": list(cmd.events),
               "name_pattern": cmd.name_pattern, "format": cmd.format, "max_attempts": cmd.max_attempts}
    event = uow.append(ev.WEBHOOK_SUBSCRIBED, actor=cmd.actor, payload=payload)
    uow.put_webhook_endpoint(ident, cmd.url, cmd.secret)
    return [event]


def unsubscribe(cmd: Unsubscribe, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    if not any(sub.id == cmd.id for sub in uow.webhook_subscriptions()):
        raise NotFound(f"id: no webhook subscription {cmd.id!r}; `llmreg webhooks list` shows them")
    event = uow.append(ev.WEBHOOK_UNSUBSCRIBED, actor=cmd.actor, payload={"id": cmd.id})
    # Its queued deliveries stay in the outbox; the sender gives them up as "no longer subscribed".
    uow.drop_webhook_endpoint(cmd.id)
    return [event]
