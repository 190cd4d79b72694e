"""providers.yaml as pydantic models, and their conversion to `evals.providers.config`.

Imported by `load_providers`/`parse_providers` only (code that uses a loaded configuration
never imports pydantic). Each field's description is the fix printed when it is wrong.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from evals.config_fields import Number, Regex, SemVer, Text, fail, load, rule, validate
from evals.providers.config import (
    FILE_PINNED_PROVIDERS,
    EntryPin,
    FamilyConfig,
    ProviderConfig,
    ProvidersConfig,
    ProvidersConfigError,
)
from llmreg.registry.config_models import ConfigModel
from llmreg.registry.errors import BadInput


def _provider_name(value: str) -> str:
    from llmreg.registry.providers import PROVIDER_RE

    if not PROVIDER_RE.match(value) or value in FILE_PINNED_PROVIDERS:
        raise ValueError(f"is {value!r}, not lowercase letters, digits and ._-, or one of "
                         f"{', '.join(FILE_PINNED_PROVIDERS)} (which pin files, not snapshots)")
    return value


HttpUrl = Annotated[Text, rule(lambda v: re.match(r"^https?://[^\s/]+", v), "is not an http(s) URL")]
EnvName = Annotated[Text, rule(lambda v: re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", v),
                                 "is not an environment variable name")]
Whole = Annotated[Number, rule(lambda v: v >= 0 and float(v).is_integer(), "is not a whole number >= 0")]
WholePositive = Annotated[Number, rule(lambda v: v >= 1 and float(v).is_integer(), "is not a whole number >= 1")]
Seconds = Annotated[Number, rule(lambda v: v > 0, "is not > 0")]
Delay = Annotated[Number, rule(lambda v: v >= 0, "is negative")]
Mode = Annotated[Text, rule(lambda v: v in ("completions", "chat"), "is not completions or chat")]
Date = Text | None


class EntrySection(ConfigModel):
    name: Text = Field(description="give the registry entry name")
    env: Text | None = Field(None, description="give the environment, e.g. default")


class FamilySection(ConfigModel):
    name: Text = Field(description="name the family, e.g. gpt-5-mini")
    prefix: Text | None = Field(None, description="give a model id prefix, or use pattern")
    pattern: Regex | None = Field(None, description="give a regex searched in model ids, or use prefix")
    suite: Text = Field(description="give the suite YAML path, e.g. evals/suites/triage-eval.yaml")
    suite_version: SemVer = Field(description="pin the suite version X.Y.Z the family is qualified with")
    mode: Mode | None = Field(None, description="use completions or chat")
    max_tokens: WholePositive | None = Field(None, description="give the completion token budget, e.g. 1")
    entries: list[EntrySection] | None = Field(
        None, description="list {name, env} of registry entries pinning this family")

    @model_validator(mode="after")
    def _one_matcher(self) -> FamilySection:
        if (self.prefix is None) == (self.pattern is None):
            raise ValueError("needs exactly one of prefix or pattern; say how model ids of this family look")
        return self


class DatesSection(ConfigModel):
    deprecation_date: Date = Field(None, description="give a date YYYY-MM-DD")
    shutdown_date: Date = Field(None, description="give a date YYYY-MM-DD")


class ProviderSection(ConfigModel):
    name: Annotated[Text, AfterValidator(_provider_name)] = Field(
        description="name the provider, e.g. openai or local-vllm")
    base_url: HttpUrl = Field(description="give the OpenAI-compatible base URL ending in /v1")
    api_key_env: EnvName | None = Field(
        None, description="name the environment variable holding the key (or null)")
    timeout_s: Seconds | None = Field(None, description="give seconds per request, e.g. 30")
    max_retries: Whole | None = Field(None, description="give a whole number of retries, e.g. 2")
    backoff_s: Delay | None = Field(None, description="give the first retry delay in seconds, e.g. 0.5")
    concurrency: WholePositive | None = Field(None, description="give parallel requests, e.g. 4")
    families: list[FamilySection] = Field(min_length=1, description="list the model families to follow")
    deprecations: dict[str, DatesSection] | None = Field(
        None, description="map snapshot ids to {deprecation_date, shutdown_date}")


class ProvidersDocument(ConfigModel):
    providers: list[ProviderSection] = Field(min_length=1, description="list the providers to follow")
    reevaluate_cron: Text | None = Field(None, description="give a cron string such as '0 6 * * *'")


def load_providers_file(path: str) -> ProvidersConfig:
    return to_config(load(path, ProvidersDocument, what="providers", error=ProvidersConfigError), source=path)


def parse_providers_data(data: Any, source: str) -> ProvidersConfig:
    return to_config(validate(ProvidersDocument, data, source=source, error=ProvidersConfigError), source=source)


def to_config(doc: ProvidersDocument, *, source: str) -> ProvidersConfig:
    providers: list[ProviderConfig] = []
    for i, raw in enumerate(doc.providers):
        where = f"providers[{i}]"
        if any(p.name == raw.name for p in providers):
            fail(ProvidersConfigError, source, f"{where}.name",
                 f"{raw.name!r} is used twice; give each provider its own name")
        families = tuple(FamilyConfig(
            name=fam.name, suite=fam.suite, suite_version=fam.suite_version, prefix=fam.prefix, pattern=fam.pattern,
            mode=fam.mode or "completions", max_tokens=int(fam.max_tokens or 1),
            entries=tuple(EntryPin(e.name, e.env or "default") for e in fam.entries or ())) for fam in raw.families)
        providers.append(ProviderConfig(
            name=raw.name, base_url=raw.base_url.rstrip("/"), families=families, api_key_env=raw.api_key_env,
            timeout_s=float(_given(raw.timeout_s, 30.0)), max_retries=int(_given(raw.max_retries, 2)),
            backoff_s=float(_given(raw.backoff_s, 0.5)), concurrency=int(_given(raw.concurrency, 4)),
            deprecations=_deprecations(raw, source, where)))
    return ProvidersConfig(providers=tuple(providers), cron=doc.reevaluate_cron, source=source)


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def _deprecations(raw: ProviderSection, source: str, where: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    from llmreg.registry.providers import normalise_date

    out = []
    for snapshot, dates in sorted((raw.deprecations or {}).items()):
        pairs: list[tuple[str, str]] = []
        for key, value in sorted(dates.model_dump().items()):
            try:
                date = normalise_date(value, f"{where}.deprecations.{snapshot}.{key}")
            except BadInput as exc:
                raise ProvidersConfigError(f"{source}: {exc}", field=exc.field) from None
            if date is not None:
                pairs.append((key, date))
        out.append((str(snapshot), tuple(pairs)))
    return tuple(out)
