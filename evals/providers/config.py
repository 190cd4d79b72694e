"""`providers.yaml`: which providers to watch, which model families to follow, how to qualify.

    reevaluate_cron: "0 6 * * *"          # optional; LLMREG_PROVIDERS_CRON overrides
    providers:
      - name: openai                       # recorded as the snapshot's provider (ModelRef.provider)
        base_url: https://api.openai.com/v1
        api_key_env: OPENAI_API_KEY        # the env var holding the key; null for a local server
        families:
          - name: gpt-5-mini
            prefix: gpt-5-mini-            # or pattern: a regex searched in the model id
            suite: evals/suites/triage-eval.yaml
            suite_version: "1.0.0"         # the pinned suite version: a different file is refused
            entries:                       # registry entries whose production pin follows this family
              - {name: support-triage, env: default}
        deprecations:                      # dates the provider announced outside /v1/models
          gpt-5-mini-2026-01-15: {shutdown_date: 2026-09-30}

Every error is one line naming the file, the field and the fix (the pydantic models are in
config_document.py, imported only when a file is read); nothing is defaulted silently except
the documented transport settings.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.schema import SchemaError

DEFAULT_CRON = "0 6 * * *"  # daily, 06:00 UTC
NO_AUTH_KEY = "EMPTY"  # what OpenAI-compatible local servers (vLLM) accept when they check nothing
FILE_PINNED_PROVIDERS = ("hf", "huggingface", "local")  # pinned by commit/checksum, never by snapshot id


class ProvidersConfigError(SchemaError):
    """providers.yaml is malformed or names something that does not exist."""


@dataclass(frozen=True)
class EntryPin:
    """A registry entry whose production version pins a snapshot of a followed family."""

    name: str
    env: str = "default"


@dataclass(frozen=True)
class FamilyConfig:
    name: str
    suite: str  # suite YAML path, relative to the project root
    suite_version: str
    prefix: str | None = None
    pattern: str | None = None
    mode: str = "completions"  # completions | chat (OpenAIRunner modes)
    max_tokens: int = 1
    entries: tuple[EntryPin, ...] = ()

    def matches(self, model_id: str) -> bool:
        if self.prefix is not None:
            return model_id.startswith(self.prefix)
        return re.search(self.pattern or "", model_id) is not None


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    base_url: str
    families: tuple[FamilyConfig, ...]
    api_key_env: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 2
    backoff_s: float = 0.5
    concurrency: int = 4
    deprecations: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @property
    def models_url(self) -> str:
        return self.base_url.rstrip("/") + "/models"

    def family_of(self, model_id: str) -> FamilyConfig | None:
        """The first family whose prefix/pattern matches (families are tried in file order)."""
        return next((f for f in self.families if f.matches(model_id)), None)

    def family(self, name: str) -> FamilyConfig | None:
        return next((f for f in self.families if f.name == name), None)

    def announced_dates(self, snapshot: str) -> dict[str, str]:
        return dict(dict(self.deprecations).get(snapshot, ()))

    def api_key(self) -> str:
        """The key from `api_key_env`; `EMPTY` for a server without auth. One-line error if unset."""
        if self.api_key_env is None:
            return NO_AUTH_KEY
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ProvidersConfigError(
                f"provider {self.name}: api_key_env: environment variable {self.api_key_env} is not set; export the "
                "API key there (or set api_key_env: null for a server without auth)", field="api_key_env")
        return key


@dataclass(frozen=True)
class ProvidersConfig:
    providers: tuple[ProviderConfig, ...]
    cron: str | None = None
    source: str = "<providers>"

    def provider(self, name: str) -> ProviderConfig:
        for provider in self.providers:
            if provider.name == name:
                return provider
        known = ", ".join(p.name for p in self.providers) or "none"
        raise ProvidersConfigError(f"{self.source}: providers: no provider named {name!r} (configured: {known}); "
                                   "add it under providers", field="providers")

    def has_provider(self, name: str) -> bool:
        return any(p.name == name for p in self.providers)


def load_providers(path: str | os.PathLike) -> ProvidersConfig:
    """Read and validate providers.yaml; ProvidersConfigError (one line, exit 2) when it is wrong."""
    from evals.providers.config_document import load_providers_file

    path = Path(path)
    if not path.is_file():
        raise ProvidersConfigError(f"{path}: no such file; write a providers.yaml (see the one at the repo root) "
                                   "or pass --config", field="config")
    return load_providers_file(str(path))


def parse_providers(data: dict[str, Any], *, source: str = "<providers>") -> ProvidersConfig:
    """Validate already-loaded providers.yaml data the same way."""
    from evals.providers.config_document import parse_providers_data

    return parse_providers_data(data, source)


def configured_cron(path: str | os.PathLike) -> str:
    """The file's `reevaluate_cron`, else DEFAULT_CRON, also when the file is missing or malformed:
    a schedule must still be defined, and the discovery sensor reports the real problem."""
    from llmreg.registry.documents import read_document
    from llmreg.registry.errors import BadInput

    try:
        data = read_document(path, "providers")
    except BadInput:
        return DEFAULT_CRON
    cron = data.get("reevaluate_cron") if isinstance(data, dict) else None
    return cron if isinstance(cron, str) and cron.strip() else DEFAULT_CRON
