"""A webhook subscription: where to POST, which events, which names, the signing secret and
the payload format ("json", or "slack" for a Slack incoming-webhook URL)."""
from __future__ import annotations

from typing import Any, Literal, Mapping
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from llmreg.registry.config_models import ConfigModel
from llmreg.registry.webhooks import MIN_SECRET, Route, event_types

# The registry events a subscription may name ("*" for all): every type the registry writes.
EVENT_TYPES = event_types()


class Subscription(ConfigModel):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    url: str = Field(max_length=2000)
    events: tuple[str, ...] = Field(min_length=1)
    name_pattern: str = Field("*", max_length=200)  # shell-style glob over entry names
    secret: SecretStr = Field(min_length=MIN_SECRET)  # never logged, never in the event log
    format: Literal["json", "slack"] = "json"
    max_attempts: int = Field(8, ge=1, le=50)
    active: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://hooks.example.com/llmreg")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; the HMAC secret authenticates deliveries")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for event in value:
            if event != "*" and event not in EVENT_TYPES:
                raise ValueError(f"{event!r} is not an event type; use * or one of {', '.join(EVENT_TYPES)}")
        if len(set(value)) != len(value):
            raise ValueError("lists an event type twice; keep each once")
        return value

    def matches(self, event_type: str, name: str | None, payload: Mapping[str, Any] | None = None) -> bool:
        """The store's rule (webhooks.Route), so what is queued and what this says never differ."""
        return self.active and Route(self.id, frozenset(self.events), self.name_pattern).matches(event_type, name,
                                                                                                  payload)

    def public(self) -> dict:
        """The subscription without its secret."""
        return self.model_dump(mode="json", exclude={"secret"})

    @classmethod
    def from_registry(cls, sub, url: str, secret: str) -> "Subscription":
        """The sender's view of a registry subscription (webhooks.WebhookSubscription) and its endpoint."""
        return cls.parse({"id": sub.id, "url": url, "events": list(sub.events), "name_pattern": sub.name_pattern,
                          "secret": secret, "format": sub.format, "max_attempts": sub.max_attempts},
                         source="webhook_subscriptions", prefix=sub.id)
