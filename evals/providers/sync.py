"""Discovery into the registry: what a provider lists now becomes change-log events.

One transaction per provider (llmreg.registry.api.Registry.record_provider_discovery): new
snapshots are `seen`, vanished ones `delisted`, changed dates `deprecated`. A provider that
answers badly (timeout, 5xx, malformed JSON) gets a recorded `provider.discovery` failure
and nothing else: its snapshots are left as they were, never half-updated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evals.providers.config import ProviderConfig, ProvidersConfig, ProvidersConfigError
from evals.providers.discovery import ProviderError, list_models, sort_models

ACTOR = "system:provider-discovery"


@dataclass
class DiscoveryResult:
    provider: str
    listed: list[str] = field(default_factory=list)  # followed snapshots listed now
    new: list[str] = field(default_factory=list)  # snapshot keys first seen by this discovery
    changes: list[dict[str, Any]] = field(default_factory=list)  # every event payload written
    aliases: list[tuple[str, str, str]] = field(default_factory=list)  # (id, family, why not a snapshot)
    unfollowed: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "ok": self.ok, "error": self.error, "listed": self.listed,
                "new": self.new, "changes": self.changes,
                "aliases": [{"id": i, "family": f, "reason": r} for i, f, r in self.aliases],
                "unfollowed": self.unfollowed}


def discover_provider(reg: Any, provider: ProviderConfig, *, actor: str = ACTOR, transport: Any = None,
                      sleep: Any = None) -> DiscoveryResult:
    """Read one provider's model list and record what changed. Never raises for a bad provider:
    the failure is recorded (once per distinct error) and returned in `.error`."""
    from llmreg.registry.providers import SEEN, snapshot_key

    result = DiscoveryResult(provider.name)
    try:
        kwargs = {"transport": transport} if transport is not None else {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        models = list_models(provider, **kwargs)
    except (ProviderError, ProvidersConfigError) as exc:
        result.error = str(exc)
        reg.record_provider_failure(provider.name, str(exc), actor=actor, base_url=provider.base_url)
        return result
    sorted_models = sort_models(provider, models)
    result.aliases = list(sorted_models.aliases)
    result.unfollowed = list(sorted_models.unfollowed)
    batch = []
    for model, family in sorted_models.snapshots:
        announced = provider.announced_dates(model.id)
        batch.append({
            "snapshot": model.id, "family": family.name,
            "deprecation_date": model.deprecation_date or announced.get("deprecation_date"),
            "shutdown_date": model.shutdown_date or announced.get("shutdown_date"),
            "info": {"base_url": provider.base_url, **model.info},
        })
        result.listed.append(model.id)
    events = reg.record_provider_discovery(provider.name, batch, actor=actor, base_url=provider.base_url,
                                           families=[f.name for f in provider.families])
    for event in events:
        payload = dict(event.payload)
        result.changes.append(payload)
        if payload.get("status") == SEEN:
            result.new.append(snapshot_key(payload["provider"], payload["snapshot"]))
    return result


def discover_all(reg: Any, config: ProvidersConfig, *, actor: str = ACTOR) -> list[DiscoveryResult]:
    """Every configured provider, each on its own: one failing provider does not stop the rest."""
    return [discover_provider(reg, provider, actor=actor) for provider in config.providers]


def followed_snapshots(reg: Any, config: ProvidersConfig) -> list[Any]:
    """Change-log records of configured providers and families that the provider still lists."""
    out = []
    for record in reg.provider_log():
        if not record.listed or not config.has_provider(record.provider):
            continue
        provider = config.provider(record.provider)
        if record.family and provider.family(record.family) is None:
            continue  # a family no longer followed
        out.append(record)
    return out


def partition_keys(reg: Any, config: ProvidersConfig) -> list[str]:
    """The Dagster partition keys (provider/snapshot) of every followed, listed snapshot."""
    return [record.key for record in followed_snapshots(reg, config)]
