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

Every error is one line naming the file, the field and the fix; nothing is defaulted
silently except the documented transport settings.
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.schema import Field, SchemaError, check_mapping, positive, read_yaml_mapping, semver

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
                f"provider {self.name}: environment variable {self.api_key_env} is not set: export the API key "
                "there (or set api_key_env: null for a server without auth)")
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
        raise ProvidersConfigError(f"{self.source}: no provider named {name!r} (configured: {known}): add it "
                                   "under providers")

    def has_provider(self, name: str) -> bool:
        return any(p.name == name for p in self.providers)


_TOP = {
    "providers": Field("list", "list the providers to follow"),
    "reevaluate_cron": Field("str", "give a cron string such as '0 6 * * *'", required=False),
}
_PROVIDER = {
    "name": Field("str", "name the provider, e.g. openai (lowercase, digits, ._-)"),
    "base_url": Field("str", "give the OpenAI-compatible base URL ending in /v1",
                      check=lambda v: None if re.match(r"^https?://[^\s/]+", v) else "is not an http(s) URL"),
    "api_key_env": Field("str", "name the environment variable holding the key (or null)", required=False,
                         check=lambda v: None if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", v)
                         else "is not an environment variable name"),
    "timeout_s": Field("number", "give seconds per request, e.g. 30", required=False, check=positive),
    "max_retries": Field("number", "give a whole number of retries, e.g. 2", required=False,
                         check=lambda v: None if v >= 0 and float(v).is_integer() else "is not a whole number >= 0"),
    "backoff_s": Field("number", "give the first retry delay in seconds, e.g. 0.5", required=False,
                       check=lambda v: None if v >= 0 else "is negative"),
    "concurrency": Field("number", "give parallel requests, e.g. 4", required=False,
                         check=lambda v: None if v >= 1 and float(v).is_integer() else "is not a whole number >= 1"),
    "families": Field("list", "list the model families to follow"),
    "deprecations": Field("mapping", "map snapshot ids to {deprecation_date, shutdown_date}", required=False),
}
_FAMILY = {
    "name": Field("str", "name the family, e.g. gpt-5-mini"),
    "prefix": Field("str", "give a model id prefix, or use pattern", required=False),
    "pattern": Field("str", "give a regex searched in model ids, or use prefix", required=False),
    "suite": Field("str", "give the suite YAML path, e.g. evals/suites/triage-eval.yaml"),
    "suite_version": Field("str", "pin the suite version X.Y.Z the family is qualified with", check=semver),
    "mode": Field("str", "use completions or chat", required=False,
                  check=lambda v: None if v in ("completions", "chat") else "is not completions or chat"),
    "max_tokens": Field("number", "give the completion token budget, e.g. 1", required=False,
                        check=lambda v: None if v >= 1 and float(v).is_integer() else "is not a whole number >= 1"),
    "entries": Field("list", "list {name, env} of registry entries pinning this family", required=False),
}
_ENTRY = {
    "name": Field("str", "give the registry entry name"),
    "env": Field("str", "give the environment, e.g. default", required=False),
}
_DATES = {
    "deprecation_date": Field("str", "give a date YYYY-MM-DD", required=False),
    "shutdown_date": Field("str", "give a date YYYY-MM-DD", required=False),
}


def _items(value: Any, source: str, where: str) -> list[dict[str, Any]]:
    """A list of mappings (check_mapping's str_list kind does not cover mappings)."""
    if not isinstance(value, list) or not value:
        raise ProvidersConfigError(f"{source}: field {where} must be a non-empty list")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ProvidersConfigError(f"{source}: field {where}[{index}] must be a mapping, got "
                                       f"{type(item).__name__} {item!r}")
    return value


def _check(data: dict[str, Any], spec: dict[str, Field], source: str, where: str) -> dict[str, Any]:
    """check_mapping for the scalar fields; "list" fields (lists of mappings) only for presence,
    their items are checked one by one by the caller."""
    prefix = f"{where}." if where else ""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(spec), n=1)
        hint = f"did you mean {close[0]}?" if close else "remove it"
        raise ProvidersConfigError(f"{source}: unknown field {prefix}{unknown[0]}: {hint} "
                                   f"(allowed: {', '.join(sorted(spec))})")
    lists = {k for k, f in spec.items() if f.kind == "list"}
    check_mapping({k: v for k, v in data.items() if k not in lists},
                  {k: f for k, f in spec.items() if k not in lists},
                  source=source, where=where, error=ProvidersConfigError)
    for key in sorted(lists):
        if spec[key].required and data.get(key) is None:
            raise ProvidersConfigError(f"{source}: field {prefix}{key} is missing: {spec[key].fix}")
    return data


def _provider_name(value: str, source: str, where: str) -> str:
    from llmreg.registry.providers import PROVIDER_RE

    if not PROVIDER_RE.match(value) or value in FILE_PINNED_PROVIDERS:
        raise ProvidersConfigError(
            f"{source}: field {where}.name is {value!r}: use lowercase letters, digits and ._- "
            f"(not {', '.join(FILE_PINNED_PROVIDERS)}, which pin files, not snapshots), e.g. openai or local-vllm")
    return value


def _date(value: Any, source: str, where: str) -> str:
    from llmreg.registry.errors import BadInput
    from llmreg.registry.providers import normalise_date

    try:
        return normalise_date(value, where)
    except BadInput as exc:
        raise ProvidersConfigError(f"{source}: field {exc}") from None


def parse_providers(data: dict[str, Any], *, source: str = "<providers>") -> ProvidersConfig:
    _check(data, _TOP, source, "")
    providers: list[ProviderConfig] = []
    for i, raw in enumerate(_items(data["providers"], source, "providers")):
        where = f"providers[{i}]"
        _check(raw, _PROVIDER, source, where)
        name = _provider_name(raw["name"], source, where)
        if any(p.name == name for p in providers):
            raise ProvidersConfigError(f"{source}: field {where}.name {name!r} is used twice: give each provider "
                                       "its own name")
        families: list[FamilyConfig] = []
        for j, fam in enumerate(_items(raw["families"], source, f"{where}.families")):
            fwhere = f"{where}.families[{j}]"
            _check(fam, _FAMILY, source, fwhere)
            if (fam.get("prefix") is None) == (fam.get("pattern") is None):
                raise ProvidersConfigError(f"{source}: field {fwhere} needs exactly one of prefix or pattern: "
                                           "say how model ids of this family look")
            if fam.get("pattern") is not None:
                try:
                    re.compile(fam["pattern"])
                except re.error as exc:
                    raise ProvidersConfigError(f"{source}: field {fwhere}.pattern is not a regex ({exc}): "
                                               "fix the expression") from None
            entries = []
            for k, entry in enumerate(_items(fam["entries"], source, f"{fwhere}.entries") if fam.get("entries") else []):
                _check(entry, _ENTRY, source, f"{fwhere}.entries[{k}]")
                entries.append(EntryPin(entry["name"], entry.get("env", "default")))
            families.append(FamilyConfig(
                name=fam["name"], suite=fam["suite"], suite_version=fam["suite_version"], prefix=fam.get("prefix"),
                pattern=fam.get("pattern"), mode=fam.get("mode", "completions"),
                max_tokens=int(fam.get("max_tokens", 1)), entries=tuple(entries)))
        deprecations = []
        for snapshot, dates in sorted((raw.get("deprecations") or {}).items()):
            dwhere = f"{where}.deprecations.{snapshot}"
            if not isinstance(dates, dict):
                raise ProvidersConfigError(f"{source}: field {dwhere} must be a mapping "
                                           "{deprecation_date, shutdown_date}")
            dates = {k: str(v) if v is not None and not isinstance(v, (int, float)) else v for k, v in dates.items()}
            check_mapping(dates, _DATES, source=source, where=dwhere, error=ProvidersConfigError)
            deprecations.append((str(snapshot), tuple(sorted(
                (k, _date(v, source, f"{dwhere}.{k}")) for k, v in dates.items() if v is not None))))
        providers.append(ProviderConfig(
            name=name, base_url=raw["base_url"].rstrip("/"), families=tuple(families),
            api_key_env=raw.get("api_key_env"), timeout_s=float(raw.get("timeout_s", 30.0)),
            max_retries=int(raw.get("max_retries", 2)), backoff_s=float(raw.get("backoff_s", 0.5)),
            concurrency=int(raw.get("concurrency", 4)), deprecations=tuple(deprecations)))
    cron = data.get("reevaluate_cron")
    return ProvidersConfig(providers=tuple(providers), cron=cron, source=source)


def load_providers(path: str | os.PathLike) -> ProvidersConfig:
    """Read and validate providers.yaml; ProvidersConfigError (one line) when it is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ProvidersConfigError(f"{path}: no such file: write a providers.yaml (see the one at the repo root) "
                                   "or pass --config")
    return parse_providers(read_yaml_mapping(path, ProvidersConfigError), source=str(path))
