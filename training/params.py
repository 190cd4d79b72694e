"""params.yaml, typed and checked: one pydantic model per section, one for the whole file.

DVC stages name these keys in `params:`; the Dagster run config is built from the same
models (assets/config.py), so both paths train with the same values. A missing file or
section means "all defaults"; an unknown or mistyped key is one line naming the key and
the fix ("params.yaml: lora.steps: ...; fix the value"), raised as ParamsError (exit 2).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from llmreg.registry.config_models import ConfigModel, load_config
from llmreg.registry.errors import BadInput
from training.errors import ParamsError

DEFAULT_PARAMS_PATH = "params.yaml"


class _Section(ConfigModel):
    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info) -> Any:
        # YAML `true` must not pass as 1 or 1.0 for a numeric key.
        field = cls.model_fields[info.field_name]
        if isinstance(value, bool) and field.annotation in (int, float):
            raise ValueError("must be a number, not true/false")
        return value


class DataParams(_Section):
    seed: int = 42
    n_tickets: int = Field(4000, gt=0)
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    raw_path: str = "data/raw/tickets.parquet"
    train_path: str = "data/splits/train.parquet"
    eval_path: str = "data/splits/eval.parquet"
    # The template that turns a ticket into model input; training and evals render through it.
    prompt_path: str = "prompts/triage-prompt.yaml"


class BaseModelParams(_Section):
    # embedded: build and pretrain the small Llama here; hf: a pinned hub snapshot; path: a local directory.
    source: Literal["embedded", "hf", "path"] = "embedded"
    # Logical name written into configs instead of a machine-specific absolute path.
    name: str = Field("llm-registry/triage-base", min_length=1)
    repo_id: str | None = Field(None, min_length=1)
    revision: str | None = Field(None, min_length=1)
    path: str | None = Field(None, min_length=1)
    output_dir: str = "models/base"
    metrics_path: str = "metrics/base_model.json"
    seed: int = 0
    hidden_size: int = Field(128, gt=0)
    num_layers: int = Field(2, gt=0)
    num_heads: int = Field(4, gt=0)
    intermediate_size: int = Field(256, gt=0)
    max_position_embeddings: int = Field(64, gt=0)
    min_word_frequency: int = Field(2, gt=0)
    pretrain_steps: int = Field(200, gt=0)
    pretrain_batch_size: int = Field(32, gt=0)
    pretrain_lr: float = Field(3e-3, gt=0)
    threads: int = Field(1, gt=0)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> BaseModelParams:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of base_model.num_heads "
                             f"({self.num_heads}); change one of them")
        return self


class LoraParams(_Section):
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] = Field(("q_proj", "v_proj"), min_length=1)
    lr: float = Field(1e-2, gt=0)
    warmup_steps: int = Field(10, ge=0)
    steps: int = Field(300, gt=0)
    batch_size: int = Field(32, gt=0)
    seed: int = 0
    threads: int = Field(1, gt=0)
    output_dir: str = "models/adapter"
    metrics_path: str = "metrics/train.json"
    # Numbers only, tracked in git: final losses (dvc metrics) and the loss curve (dvc plots).
    scores_path: str = "reports/train.json"
    loss_plot: str = "reports/loss.csv"


class EvalParams(_Section):
    suite: str = "evals/suites/triage-eval.yaml"
    out: str = "metrics/eval.json"
    # Small numbers-only files DVC tracks (`dvc metrics diff`), and the plots' data.
    scores_path: str = "reports/eval.json"
    segments_plot: str = "reports/segments.csv"
    batch_size: int = Field(32, gt=0)
    threads: int = Field(1, gt=0)


class RegistryParams(_Section):
    name: str = Field("support-triage", min_length=1)
    env: str = "default"
    owner: str | None = None
    contact: str | None = None
    release_path: str = "release/entry.yaml"
    # The no-regression check fails when tuned accuracy is more than this below an incumbent.
    regression_tolerance: float = Field(0.01, ge=0.0, lt=1.0)


class DataVersioningParams(_Section):
    backend: Literal["auto", "dvc", "lakefs"] = "auto"
    root: str | None = None
    cache_dir: str | None = None


class Params(ConfigModel):
    """The whole params.yaml."""

    data: DataParams = Field(default_factory=DataParams)
    base_model: BaseModelParams = Field(default_factory=BaseModelParams)
    lora: LoraParams = Field(default_factory=LoraParams)
    eval: EvalParams = Field(default_factory=EvalParams)
    registry: RegistryParams = Field(default_factory=RegistryParams)
    data_versioning: DataVersioningParams | None = None

    def as_mapping(self) -> dict[str, Any]:
        """The plain mapping older readers take (data versioning settings)."""
        return self.model_dump(mode="json", exclude_none=True)


def load_params(path: str | Path = DEFAULT_PARAMS_PATH) -> Params:
    """The whole file; a missing file means every section at its defaults."""
    path = Path(path)
    if not path.exists():
        return Params()
    try:
        return load_config(path, Params, what="params file")
    except BadInput as exc:
        raise ParamsError(str(exc)) from None


def params_from_mapping(data: dict[str, Any] | None, *, source: str = "params") -> Params:
    try:
        return Params.parse(data or {}, source=source)
    except BadInput as exc:
        raise ParamsError(str(exc)) from None


def load_data_params(path: str | Path = DEFAULT_PARAMS_PATH) -> DataParams:
    return load_params(path).data


def load_base_model_params(path: str | Path = DEFAULT_PARAMS_PATH) -> BaseModelParams:
    return load_params(path).base_model


def load_lora_params(path: str | Path = DEFAULT_PARAMS_PATH) -> LoraParams:
    return load_params(path).lora


def read_params_file(path: str | Path = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """The whole params.yaml as a validated plain mapping."""
    return load_params(path).as_mapping()
