"""Gateway settings: where the registry and prompts are, which upstream serves which
provider, shadow traffic, the SLO guard and the call log.

A YAML file (`llmreg serve --config gateway.yaml`) or a dict; every setting has a default
so `llmreg serve` runs with none. Bad settings are one BadInput line naming the key.

    prompts_dir: prompts
    default_env: default
    upstreams:                       # provider (entry.model.provider) -> OpenAI-compatible server
      openai: {base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY}
      hf:     {base_url: http://127.0.0.1:8000/v1, model_names: {support-triage@1.2.0: triage-lora}}
    local_engine: transformers       # local/hf models without an upstream: transformers | vllm
    shadows:
      - {name: support-triage, env: default, stage: staging}   # or version: 1.3.0
    slo_guard: {interval_s: 1.0, window: 200}
    tools_dir: tools                 # tool schema files the entries' tools_ref name
    limits:                          # per backend: running + waiting requests; past that 503 + Retry-After
      local:    {max_concurrent: 1, max_queued: 8}
      upstream: {max_concurrent: 256, max_queued: 1024}
      retry_after_s: 1
    auth: {mode: auto}               # auto: keys required once one was created (llmreg api-key create), else open on loopback
    cors: {allow_origins: []}        # off by default; e.g. [https://app.example.com] or ["*"]
    experiments:                     # A/B: clients ask for "model": "triage-ab" (":ENV" or X-LLMReg-Env)
      triage-ab:
        variants:
          control:   {entry: support-triage, stage: production, weight: 0.5}
          candidate: {entry: support-triage-v2, stage: production, weight: 0.5}   # or version: X.Y.Z
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml
from pydantic import Field

from llmreg.registry.config_models import ConfigModel
from llmreg.registry.entry import NAME_RE
from llmreg.registry.errors import BadInput
from llmreg.serving.assignment import experiment_salt, pick

_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
GUARD_ACTOR = "system:slo-guard"
VARIANT_STAGES = ("production", "canary", "staging")
WEIGHT_TOLERANCE = 1e-6


def _fail(key: str, message: str) -> None:
    raise BadInput(f"gateway config: {key}: {message}", field=key)


def _number(data: Mapping[str, Any], key: str, where: str, default: float, lo: float, hi: float | None = None) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < lo or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
        _fail(f"{where}{key}", f"must be a number {bound}, got {value!r}")
    return float(value)


def _check_keys(data: Any, allowed: tuple[str, ...], where: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        _fail(where.rstrip(".") or "config", f"expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        _fail(f"{where}{unknown[0]}", f"unknown setting; allowed: {', '.join(allowed)}")
    return data


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    base_url: str
    api_key_env: str | None = None  # the key itself never sits in a config file
    timeout_s: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)
    model_names: Mapping[str, str] = field(default_factory=dict)  # entry ref or model id -> served name
    max_retries: int = 1  # outages and 5xx, before any byte reached the client (llmreg.registry.retry_policy)
    backoff_s: float = 0.1

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "UpstreamConfig":
        data = _check_keys(data, tuple(f.name for f in fields(cls)), where + ".")
        base_url = data.get("base_url")
        if not isinstance(base_url, str) or not re.match(r"^https?://", base_url):
            _fail(f"{where}.base_url", f"must be an http(s) URL such as http://127.0.0.1:8000/v1, got {base_url!r}")
        key_env = data.get("api_key_env")
        if key_env is not None and (not isinstance(key_env, str) or not _ENV_VAR_RE.match(key_env)):
            _fail(f"{where}.api_key_env", "must be the NAME of an environment variable holding the key")
        for key in ("headers", "model_names"):
            value = data.get(key) or {}
            if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                _fail(f"{where}.{key}", "must be a mapping of strings")
        retries = data.get("max_retries", 1)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            _fail(f"{where}.max_retries", f"must be an integer between 0 and 10, got {retries!r}")
        return cls(base_url=base_url, api_key_env=key_env, max_retries=retries,
                   backoff_s=_number(data, "backoff_s", where + ".", 0.1, 0.0, 60.0),
                   timeout_s=_number(data, "timeout_s", where + ".", 60.0, 0.001),
                   headers=MappingProxyType(dict(data.get("headers") or {})),
                   model_names=MappingProxyType(dict(data.get("model_names") or {})))


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """A copy of (name, env) traffic goes to `version` or to whatever holds `stage`."""

    name: str
    env: str = "default"
    version: str | None = None
    stage: str | None = None
    fraction: float = 1.0

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "ShadowConfig":
        data = _check_keys(data, ("name", "env", "version", "stage", "fraction"), where + ".")
        if not isinstance(data.get("name"), str):
            _fail(f"{where}.name", "the registry entry whose traffic is copied is required")
        if (data.get("version") is None) == (data.get("stage") is None):
            _fail(where, "give exactly one of version (X.Y.Z) or stage (staging|canary)")
        if data.get("version") is not None and not re.match(r"^\d+\.\d+\.\d+$", str(data["version"])):
            _fail(f"{where}.version", f"must be a registered version X.Y.Z, got {data['version']!r}")
        if data.get("stage") is not None and data["stage"] not in ("staging", "canary"):
            _fail(f"{where}.stage", f"must be staging or canary, got {data['stage']!r}")
        return cls(name=data["name"], env=str(data.get("env", "default")),
                   version=None if data.get("version") is None else str(data["version"]), stage=data.get("stage"),
                   fraction=_number(data, "fraction", where + ".", 1.0, 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class SloGuardConfig:
    enabled: bool = True
    interval_s: float = 1.0
    window: int = 200  # most recent calls per (name, env, version) measured
    fresh_production_s: float = 3600.0  # a new production holder is watched this long
    evidence_interval_s: float = 60.0  # healthy canary_slo evidence at most this often per version
    actor: str = GUARD_ACTOR

    @classmethod
    def from_dict(cls, data: Any) -> "SloGuardConfig":
        data = _check_keys(data, tuple(f.name for f in fields(cls)), "slo_guard.")
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            _fail("slo_guard.enabled", "must be true or false")
        window = data.get("window", 200)
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            _fail("slo_guard.window", f"must be a positive integer, got {window!r}")
        return cls(enabled=enabled, interval_s=_number(data, "interval_s", "slo_guard.", 1.0, 0.01),
                   window=window, fresh_production_s=_number(data, "fresh_production_s", "slo_guard.", 3600.0, 0.0),
                   evidence_interval_s=_number(data, "evidence_interval_s", "slo_guard.", 60.0, 0.0),
                   actor=str(data.get("actor", GUARD_ACTOR)))


@dataclass(frozen=True, slots=True)
class CallLogConfig:
    batch_size: int = 500
    flush_interval_s: float = 0.05
    spill_path: str | None = None  # rows that cannot reach the database at shutdown land here

    @classmethod
    def from_dict(cls, data: Any) -> "CallLogConfig":
        data = _check_keys(data, ("batch_size", "flush_interval_s", "spill_path"), "call_log.")
        batch = data.get("batch_size", 500)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            _fail("call_log.batch_size", f"must be a positive integer, got {batch!r}")
        spill = data.get("spill_path")
        if spill is not None and not isinstance(spill, str):
            _fail("call_log.spill_path", "must be a file path")
        return cls(batch_size=batch, flush_interval_s=_number(data, "flush_interval_s", "call_log.", 0.05, 0.001),
                   spill_path=spill)


@dataclass(frozen=True, slots=True)
class VariantConfig:
    """One arm of an experiment: a registry entry at a stage (or a pinned version), and its share."""

    name: str
    entry: str
    weight: float
    stage: str | None = "production"
    version: str | None = None  # set instead of stage to pin one version

    def address(self, env: str) -> str:
        return f"{self.entry}@{self.version or self.stage}:{env}"

    @classmethod
    def from_dict(cls, name: Any, data: Any, where: str) -> "VariantConfig":
        if not isinstance(name, str) or not NAME_RE.match(name):
            _fail(where, f"variant name {name!r} must be lowercase letters, digits and '._-' (e.g. control, candidate)")
        data = _check_keys(data, ("entry", "stage", "version", "weight"), where + ".")
        entry = data.get("entry")
        if not isinstance(entry, str) or not NAME_RE.match(entry):
            _fail(f"{where}.entry", f"must name a registry entry (lowercase letters, digits, '._-'), got {entry!r}")
        if "weight" not in data:
            _fail(f"{where}.weight", "required: this variant's share of callers, between 0 and 1")
        stage, version = data.get("stage"), data.get("version")
        if stage is not None and version is not None:
            _fail(where, "give stage or version, not both")
        if version is not None and (not isinstance(version, str) or not _VERSION_RE.match(version)):
            _fail(f"{where}.version", f"must be a registered version X.Y.Z (quote it in YAML), got {version!r}")
        if stage is not None and stage not in VARIANT_STAGES:
            _fail(f"{where}.stage", f"must be one of {', '.join(VARIANT_STAGES)}, got {stage!r}")
        return cls(name=name, entry=entry, weight=_number(data, "weight", where + ".", 0.0, 0.0, 1.0),
                   stage=None if version is not None else (stage or "production"), version=version)


@dataclass(frozen=True, slots=True)
class ExperimentConfig:
    """An A/B split across registry entries: callers are assigned sticky by caller key.

    The assignment hash is salted with the experiment's name (not the entries'), so it is
    independent of any canary split inside a variant's entry.
    """

    name: str
    variants: tuple[VariantConfig, ...]

    def assign(self, caller: str | None, env: str) -> VariantConfig:
        """The caller's variant (sticky per caller key; a random draw when there is none)."""
        return self.variants[pick(caller, experiment_salt(self.name, env), [v.weight for v in self.variants])]

    def label(self, variant: VariantConfig) -> str:
        """What responses and gateway_calls.experiment carry: 'EXPERIMENT/VARIANT'."""
        return f"{self.name}/{variant.name}"

    @classmethod
    def from_dict(cls, name: Any, data: Any) -> "ExperimentConfig":
        where = f"experiments.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            _fail(where, "an experiment name is what clients send as 'model': lowercase letters, digits, '._-'")
        data = _check_keys(data, ("variants",), where + ".")
        raw = data.get("variants")
        if not isinstance(raw, Mapping) or len(raw) < 2:
            _fail(f"{where}.variants", "must map at least two variant names to {entry, stage|version, weight}")
        variants = tuple(VariantConfig.from_dict(k, v, f"{where}.variants.{k}") for k, v in raw.items())
        total = sum(v.weight for v in variants)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            shares = ", ".join(f"{v.name}={v.weight:g}" for v in variants)
            _fail(f"{where}.variants", f"weights must sum to 1, got {total:g} ({shares})")
        return cls(name=name, variants=variants)


# Sections added with the serving policy work are pydantic models on the project's ConfigModel
# base (one-line "gateway config: limits.local.max_queued: ..." errors); the older sections
# above keep their hand-written checks until they are ported.
class BackendLimit(ConfigModel):
    max_concurrent: int = Field(1, ge=1, le=100_000)
    max_queued: int = Field(8, ge=0, le=1_000_000)


class LimitsConfig(ConfigModel):
    local: BackendLimit = BackendLimit(max_concurrent=1, max_queued=8)
    upstream: BackendLimit = BackendLimit(max_concurrent=256, max_queued=1024)
    retry_after_s: float = Field(1.0, gt=0, le=3600)


class CorsConfig(ConfigModel):
    allow_origins: tuple[str, ...] = ()


class AuthConfig(ConfigModel):
    # auto: keys are required once any key has been created (revoked ones count); until then the gateway
    # runs open, and only on a loopback address (it says so at startup).
    mode: str = Field("auto", pattern="^(auto|keys|open)$")


def _section(model: type[ConfigModel], data: Mapping[str, Any], key: str) -> Any:
    return model.parse(data.get(key), source="gateway config", prefix=key)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    store_url: str | None = None
    prompts_dir: str = "prompts"
    default_env: str = "default"
    poll_interval_s: float = 0.2  # how often the registry's head seq is checked
    upstreams: Mapping[str, UpstreamConfig] = field(default_factory=dict)
    local_engine: str = "transformers"
    max_local_models: int = 2
    shadows: tuple[ShadowConfig, ...] = ()
    slo_guard: SloGuardConfig = field(default_factory=SloGuardConfig)
    call_log: CallLogConfig = field(default_factory=CallLogConfig)
    experiments: Mapping[str, ExperimentConfig] = field(default_factory=dict)
    tools_dir: str = "tools"
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    cors: CorsConfig = field(default_factory=CorsConfig)

    @classmethod
    def from_dict(cls, data: Any) -> "GatewayConfig":
        data = _check_keys(data, tuple(f.name for f in fields(cls)), "")
        upstreams_raw = _check_keys(data.get("upstreams"), tuple((data.get("upstreams") or {}).keys()), "upstreams.")
        upstreams = {str(k): UpstreamConfig.from_dict(v, f"upstreams.{k}") for k, v in upstreams_raw.items()}
        shadows_raw = data.get("shadows") or []
        if not isinstance(shadows_raw, list):
            _fail("shadows", "must be a list of {name, env, version|stage}")
        engine = data.get("local_engine", "transformers")
        if engine not in ("transformers", "vllm"):
            _fail("local_engine", f"must be transformers or vllm, got {engine!r}")
        max_local = data.get("max_local_models", 2)
        if isinstance(max_local, bool) or not isinstance(max_local, int) or max_local < 1:
            _fail("max_local_models", f"must be a positive integer, got {max_local!r}")
        experiments = _experiments(data.get("experiments"))
        for key in ("store_url", "prompts_dir", "default_env", "tools_dir"):
            if key in data and data[key] is not None and not isinstance(data[key], str):
                _fail(key, "must be a string")
        return cls(
            store_url=data.get("store_url"),
            prompts_dir=data.get("prompts_dir", "prompts"),
            default_env=data.get("default_env", "default"),
            poll_interval_s=_number(data, "poll_interval_s", "", 0.2, 0.01),
            upstreams=MappingProxyType(upstreams),
            local_engine=engine,
            max_local_models=max_local,
            shadows=tuple(ShadowConfig.from_dict(s, f"shadows[{i}]") for i, s in enumerate(shadows_raw)),
            slo_guard=SloGuardConfig.from_dict(data.get("slo_guard")),
            call_log=CallLogConfig.from_dict(data.get("call_log")),
            experiments=MappingProxyType(experiments),
            tools_dir=data.get("tools_dir", "tools"),
            limits=_section(LimitsConfig, data, "limits"),
            auth=_section(AuthConfig, data, "auth"),
            cors=_section(CorsConfig, data, "cors"),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> "GatewayConfig":
        try:
            text = Path(path).read_text(encoding="utf-8")
            _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
            data = yaml.safe_load(text)
        except OSError as exc:
            raise BadInput(f"gateway config {path}: cannot read it ({exc.strerror or exc}); check the path", field="config") from None
        except yaml.YAMLError as exc:
            raise BadInput(f"gateway config {path}: malformed YAML ({' '.join(str(exc).split())})", field="config") from None
        return cls.from_dict(data or {})

    def with_store(self, store_url: str | None) -> "GatewayConfig":
        return replace(self, store_url=store_url) if store_url else self


def _experiments(raw: Any) -> dict[str, ExperimentConfig]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        _fail("experiments", "must map experiment names to {variants: {NAME: {entry, stage|version, weight}}}")
    experiments = {name: ExperimentConfig.from_dict(name, data) for name, data in raw.items()}
    for experiment in experiments.values():
        for variant in experiment.variants:
            if variant.entry in experiments:
                _fail(f"experiments.{experiment.name}.variants.{variant.name}.entry",
                      f"{variant.entry!r} is an experiment; a variant names a registry entry")
    return experiments


def _refuse_duplicate_keys(node: Any, path: str = "") -> None:
    """YAML silently keeps the last of two equal keys; in this file that would drop a variant
    or a setting without a word, so a repeated key is an error naming where it is."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = f"{path}.{key}" if path else str(key)
            if key is not None and key != "<<":
                line = key_node.start_mark.line + 1
                if key in seen:
                    _fail(child, f"appears twice (lines {seen[key]} and {line}); each key (and variant name) once")
                seen[key] = line
            _refuse_duplicate_keys(value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{path}[{i}]")
