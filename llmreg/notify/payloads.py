"""Request bodies: the registry's JSON envelope, or a Slack incoming-webhook message.

json:  {"delivery_id": 7, "subscription": "ops", "event": {seq, type, name, version, env, actor, at, data}}
slack: {"text": "<one line>", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "..."}}]}

Bodies are canonical JSON (sorted keys, no spaces), so every retry sends the same bytes.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .outbox import OutboxItem
from .subscriptions import Subscription


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def headline(event: Mapping[str, Any]) -> str:
    """One line a person reads in a chat channel."""
    kind = event.get("type", "event")
    subject = " ".join(str(event[k]) for k in ("name", "version") if event.get(k))
    data: Mapping[str, Any] = event["data"] if isinstance(event.get("data"), Mapping) else {}
    where = f" ({event['env']})" if event.get("env") else ""
    to = f" -> {data['to']}" if data.get("to") else ""
    by = f" by {event['actor']}" if event.get("actor") else ""
    detail = data.get("summary") or data.get("detail") or ""
    return f"llmreg {kind}: {subject}{to}{where}{by}" + (f": {detail}" if detail else "")


def render(item: OutboxItem, subscription: Subscription) -> bytes:
    event = dict(item.event)
    if subscription.format == "slack":
        line = headline(event)
        fields = ", ".join(f"{k}={event[k]}" for k in ("seq", "at") if event.get(k) is not None)
        return _dumps({"text": line, "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{line}*"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"delivery {item.id}; {fields}"}]},
        ]})
    return _dumps({"delivery_id": item.id, "subscription": subscription.id, "event": event})
