"""Gateway settings: where the registry and prompts are, which upstream serves which
provider, shadow traffic, the SLO guard and the call log.

A YAML file (`llmreg serve --config gateway.yaml`) or a dict; every setting has a default
so `llmreg serve` runs with none. Every section is a pydantic model on the project's
ConfigModel base (llmreg/registry/config_models.py): unknown keys are refused and a bad
setting is one BadInput line naming the key ("gateway config: slo_guard.window: ...").

    prompts_dir: prompts
    default_env: default
    upstreams:                       # provider (entry.model.provider) -> OpenAI-compatible server
      openai: {base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY}
      hf:     {base_url: http://127.0.0.1:8000/v1, model_names: {support-triage@1.2.0: triage-lora}}
    local_engine: transformers       # local/hf models without an upstream: transformers | vllm
    shadows:
      - {name: support-triage, env: default, stage: staging}   # or version: 1.3.0
    slo_guard: {interval_s: 1.0, window: 200}   # + key: FILE (its own signing key), instance: gw-eu-1
    checkpoints: {repo: ., folder: audit/checkpoints}   # refuse to start on a store that fails them; verify: false opts out
    tools_dir: tools                 # tool schema files the entries' tools_ref name
    limits:                          # per backend: running + waiting requests; past that 503 + Retry-After
      local:    {max_concurrent: 8, max_queued: 16}
      upstream: {max_concurrent: 256, max_queued: 1024}
      retry_after_s: 1
    auth: {mode: auto}               # keys required once one was created (llmreg api-key create)
    cors: {allow_origins: []}        # off by default; e.g. [https://app.example.com] or ["*"]
    experiments:                     # A/B: clients ask for "model": "triage-ab" (":ENV" or X-LLMReg-Env)
      triage-ab:
        variants:
          control:   {entry: support-triage, stage: production, weight: 0.5}
          candidate: {entry: support-triage-v2, stage: production, weight: 0.5}   # or version: X.Y.Z
"""
from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Mapping, Optional

import yaml
from pydantic import Field, field_validator, model_validator

from llmreg.registry.config_models import ConfigModel
from llmreg.registry.entry import NAME_RE
from llmreg.registry.errors import BadInput
from llmreg.serving.assignment import experiment_salt, pick

GUARD_ACTOR = "system:slo-guard"
VARIANT_STAGES = ("production", "canary", "staging")
WEIGHT_TOLERANCE = 1e-6
SOURCE = "gateway config"

# Numbers are numbers: strict, so `true` is not 1 and "0.5" is not 0.5.
Int = Annotated[int, Field(strict=True)]
Float = Annotated[float, Field(strict=True)]


def _fail(key: str, message: str) -> None:
    raise BadInput(f"{SOURCE}: {key}: {message}", field=key)


class UpstreamConfig(ConfigModel):
    base_url: str
    api_key_env: Optional[str] = None  # the NAME of the variable holding the key: the key never sits in a file
    timeout_s: Float = Field(60.0, gt=0)
    headers: dict[str, str] = {}
    model_names: dict[str, str] = {}  # entry ref or model id -> served name
    max_retries: Int = Field(1, ge=0, le=10)  # outages and 5xx, before any byte reached the client
    # the name the upstream wants for the completion cap (OpenAI's reasoning models refuse max_tokens)
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    backoff_s: Float = Field(0.1, ge=0, le=60)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://", value):
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8000/v1")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
            raise ValueError("must be the NAME of an environment variable holding the key, e.g. OPENAI_API_KEY")
        return value


class ShadowConfig(ConfigModel):
    """A copy of (name, env) traffic goes to `version` or to whatever holds `stage`."""

    name: str
    env: str = "default"
    version: Optional[str] = Field(None, pattern=r"^\d+\.\d+\.\d+$")
    stage: Optional[Literal["staging", "canary"]] = None
    fraction: Float = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _one_target(self) -> "ShadowConfig":
        if (self.version is None) == (self.stage is None):
            raise ValueError("give exactly one of version (X.Y.Z) or stage (staging|canary)")
        return self


class SloGuardConfig(ConfigModel):
    enabled: bool = True
    interval_s: Float = Field(1.0, ge=0.01)
    window: Int = Field(200, ge=1)  # most recent calls per (name, env, version) measured
    fresh_production_s: Float = Field(3600.0, ge=0)  # a new production holder is watched this long
    evidence_interval_s: Float = Field(60.0, ge=0)  # healthy canary_slo evidence at most this often per version
    actor: str = GUARD_ACTOR
    # The guard signs with its own service key: this file, else $LLMREG_KEYRING/<actor>.key, else
    # $LLMREG_SIGNING_KEY. `instance` names this gateway in its canary_slo evidence (default host:pid).
    key: Optional[str] = None
    instance: Optional[str] = Field(None, min_length=1, max_length=200)


class CheckpointsConfig(ConfigModel):
    """The start-up check (llmreg/serving/startup_check.py): the store must verify against the
    newest checkpoint published for it (audit_checkpoint_schedule commits them to `repo`)."""

    verify: bool = True  # false: the explicit opt-out
    repo: str = "."  # git work tree holding <folder>/<registry id>/*.json; default: where the gateway runs
    folder: str = "audit/checkpoints"
    trust_file: Optional[str] = None  # allowed-signers file of checkpoint signers; default: members bound in the log


class CallLogConfig(ConfigModel):
    batch_size: Int = Field(500, ge=1)
    flush_interval_s: Float = Field(0.05, ge=0.001)
    spill_path: Optional[str] = None  # rows that cannot reach the database at shutdown land here


class BackendLimit(ConfigModel):
    max_concurrent: Int = Field(1, ge=1, le=100_000)
    max_queued: Int = Field(8, ge=0, le=1_000_000)


class LimitsConfig(ConfigModel):
    local: BackendLimit = BackendLimit(max_concurrent=8, max_queued=16)  # 8: the local batch size
    upstream: BackendLimit = BackendLimit(max_concurrent=256, max_queued=1024)
    retry_after_s: Float = Field(1.0, gt=0, le=3600)


class CorsConfig(ConfigModel):
    allow_origins: tuple[str, ...] = ()


class AuthConfig(ConfigModel):
    # auto: keys are required once any key has been created (revoked ones count); until then the
    # gateway runs open, and only on a loopback address (it says so at startup).
    mode: Literal["auto", "keys", "open"] = "auto"


class VariantConfig(ConfigModel):
    """One arm of an experiment: a registry entry at a stage (or a pinned version), and its share."""

    name: str = ""  # the key it is listed under
    entry: str = Field(pattern=NAME_RE.pattern)
    weight: Float = Field(ge=0, le=1)
    stage: Optional[Literal["production", "canary", "staging"]] = None
    version: Optional[str] = Field(None, pattern=r"^\d+\.\d+\.\d+$")

    @model_validator(mode="before")
    @classmethod
    def _stage_or_version(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if data.get("stage") is not None and data.get("version") is not None:
                raise ValueError("give stage or version, not both")
            if data.get("version") is None and data.get("stage") is None:
                data = {**data, "stage": "production"}  # the default when no version is pinned
        return data

    def address(self, env: str) -> str:
        return f"{self.entry}@{self.version or self.stage}:{env}"


class _ExperimentSettings(ConfigModel):
    variants: dict[str, VariantConfig]

    @field_validator("variants", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name in value:
                if not isinstance(name, str) or not NAME_RE.match(name):
                    raise ValueError(f"variant name {name!r} must be lowercase letters, digits and '._-' "
                                     "(e.g. control, candidate)")
        return value

    @field_validator("variants", mode="after")
    @classmethod
    def _shares(cls, variants: dict[str, VariantConfig]) -> dict[str, VariantConfig]:
        if len(variants) < 2:
            raise ValueError("must map at least two variant names to {entry, stage|version, weight}")
        total = sum(v.weight for v in variants.values())
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            shares = ", ".join(f"{name}={v.weight:g}" for name, v in variants.items())
            raise ValueError(f"weights must sum to 1, got {total:g} ({shares})")
        return variants


class ExperimentConfig:
    """An A/B split across registry entries: callers are assigned sticky by caller key.

    The assignment hash is salted with the experiment's name (not the entries'), so it is
    independent of any canary split inside a variant's entry.
    """

    __slots__ = ("name", "variants")

    def __init__(self, name: str, variants: tuple[VariantConfig, ...]):
        self.name = name
        self.variants = variants

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
        if isinstance(data, dict):  # an unknown key first: it is likely why the rest looks wrong
            for key in data:
                if key != "variants":
                    _fail(f"{where}.{key}", "unknown key; allowed: variants")
        if isinstance(data, dict) and isinstance(data.get("variants"), dict):
            for key in data["variants"]:
                if not isinstance(key, str) or not NAME_RE.match(key):
                    _fail(f"{where}.variants.{key}", f"variant name {key!r} must be lowercase letters, digits and "
                                                    "'._-' (e.g. control, candidate)")
        settings = _ExperimentSettings.parse(data, source=SOURCE, prefix=where)
        return cls(name, tuple(v.model_copy(update={"name": key}) for key, v in settings.variants.items()))


class GatewayConfig(ConfigModel):
    store_url: Optional[str] = None
    prompts_dir: str = "prompts"
    default_env: str = "default"
    poll_interval_s: Float = Field(0.2, ge=0.01)  # how often the registry's head seq is checked
    upstreams: dict[str, UpstreamConfig] = {}
    local_engine: Literal["transformers", "vllm"] = "transformers"
    max_local_models: Int = Field(2, ge=1)
    shadows: tuple[ShadowConfig, ...] = ()
    slo_guard: SloGuardConfig = SloGuardConfig()
    checkpoints: CheckpointsConfig = CheckpointsConfig()
    call_log: CallLogConfig = CallLogConfig()
    experiments: Mapping[str, Any] = Field(default_factory=dict)  # name -> ExperimentConfig
    tools_dir: str = "tools"
    limits: LimitsConfig = LimitsConfig()
    auth: AuthConfig = AuthConfig()
    cors: CorsConfig = CorsConfig()

    @field_validator("experiments", mode="before")
    @classmethod
    def _experiments(cls, raw: Any) -> Any:
        if raw is None:
            return MappingProxyType({})
        if not isinstance(raw, Mapping):
            _fail("experiments", "must map experiment names to {variants: {NAME: {entry, stage|version, weight}}}")
        experiments = {name: data if isinstance(data, ExperimentConfig) else ExperimentConfig.from_dict(name, data)
                       for name, data in raw.items()}
        for experiment in experiments.values():
            for variant in experiment.variants:
                if variant.entry in experiments:
                    _fail(f"experiments.{experiment.name}.variants.{variant.name}.entry",
                          f"{variant.entry!r} is an experiment; a variant names a registry entry")
        return MappingProxyType(experiments)

    @classmethod
    def from_dict(cls, data: Any) -> "GatewayConfig":
        return cls.parse(data, source=SOURCE)

    @classmethod
    def from_file(cls, path: str | Path) -> "GatewayConfig":
        try:
            text = Path(path).read_text(encoding="utf-8")
            _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
            data = yaml.safe_load(text)
        except OSError as exc:
            raise BadInput(f"{SOURCE} {path}: cannot read it ({exc.strerror or exc}); check the path", field="config") from None
        except yaml.YAMLError as exc:
            raise BadInput(f"{SOURCE} {path}: malformed YAML ({' '.join(str(exc).split())})", field="config") from None
        return cls.from_dict(data or {})

    def with_store(self, store_url: str | None) -> "GatewayConfig":
        return self.model_copy(update={"store_url": store_url}) if store_url else self


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
