"""Provider snapshots: follow hosted model families, discover new snapshots, qualify them.

    config = load_providers("providers.yaml")
    discover_all(reg, config)                         # GET /v1/models -> seen/delisted/... events
    qualify_snapshot(reg, config, "openai", "gpt-5-mini-2026-06-01", root=".")
    reevaluate(reg, config, root=".")                 # the pinned suites against every followed snapshot

No Dagster here: pipelines/providers.py (sensor, schedule) and assets/provider_evaluation.py
call these functions. The change log itself is llmreg/registry/providers.py.
"""
from evals.providers.config import (DEFAULT_CRON, EntryPin, FamilyConfig, ProviderConfig, ProvidersConfig,
                                    ProvidersConfigError, configured_cron, load_providers, parse_providers)
from evals.providers.discovery import ListedModel, ProviderError, list_models, sort_models
from evals.providers.qualify import QualificationResult, qualify_key, qualify_snapshot, reevaluate
from evals.providers.sync import DiscoveryResult, discover_all, discover_provider, followed_snapshots, partition_keys

__all__ = [
    "DEFAULT_CRON", "EntryPin", "FamilyConfig", "ProviderConfig", "ProvidersConfig", "ProvidersConfigError",
    "configured_cron", "load_providers", "parse_providers", "ListedModel", "ProviderError", "list_models", "sort_models",
    "QualificationResult", "qualify_key", "qualify_snapshot", "reevaluate", "DiscoveryResult", "discover_all",
    "discover_provider", "followed_snapshots", "partition_keys",
]
