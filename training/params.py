"""The `data`, `base_model` and `lora` sections of params.yaml, typed and checked.

DVC stages name these keys in `params:`; Dagster assets build the same dataclasses from
run config. A missing section means "all defaults"; an unknown or mistyped key is an error
that names the key, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from training.errors import ParamsError

DEFAULT_PARAMS_PATH = "params.yaml"


@dataclass(frozen=True)
class DataParams:
    seed: int = 42
    n_tickets: int = 4000
    eval_fraction: float = 0.2
    raw_path: str = "data/raw/tickets.parquet"
    train_path: str = "data/splits/train.parquet"
    eval_path: str = "data/splits/eval.parquet"
    # The template that turns a ticket into model input; training and evals render through it.
    prompt_path: str = "prompts/triage-prompt.yaml"

    def check(self) -> None:
        _positive("data", "n_tickets", self.n_tickets)
        if not 0.0 < self.eval_fraction < 1.0:
            raise ParamsError(f"params: data.eval_fraction must be between 0 and 1 (exclusive), got {self.eval_fraction}")


@dataclass(frozen=True)
class BaseModelParams:
    # embedded: build and pretrain the small Llama here; hf: a pinned hub snapshot; path: a local directory.
    source: str = "embedded"
    # Logical name written into configs instead of a machine-specific absolute path.
    name: str = "llm-registry/triage-base"
    repo_id: str | None = None
    revision: str | None = None
    path: str | None = None
    output_dir: str = "models/base"
    metrics_path: str = "metrics/base_model.json"
    seed: int = 0
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 64
    min_word_frequency: int = 2
    pretrain_steps: int = 200
    pretrain_batch_size: int = 32
    pretrain_lr: float = 3e-3
    threads: int = 1

    def check(self) -> None:
        if self.source not in ("embedded", "hf", "path"):
            raise ParamsError(f"params: base_model.source must be one of embedded, hf, path, got {self.source!r}")
        for key in ("hidden_size", "num_layers", "num_heads", "intermediate_size",
                    "max_position_embeddings", "min_word_frequency", "pretrain_steps",
                    "pretrain_batch_size", "threads"):
            _positive("base_model", key, getattr(self, key))
        if self.hidden_size % self.num_heads:
            raise ParamsError(
                f"params: base_model.hidden_size ({self.hidden_size}) must be a multiple of base_model.num_heads ({self.num_heads})"
            )
        _positive("base_model", "pretrain_lr", self.pretrain_lr)


@dataclass(frozen=True)
class LoraParams:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    lr: float = 1e-2
    warmup_steps: int = 10
    steps: int = 300
    batch_size: int = 32
    seed: int = 0
    threads: int = 1
    output_dir: str = "models/adapter"
    metrics_path: str = "metrics/train.json"

    def check(self) -> None:
        for key in ("r", "alpha", "steps", "batch_size", "threads", "lr"):
            _positive("lora", key, getattr(self, key))
        if not 0.0 <= self.dropout < 1.0:
            raise ParamsError(f"params: lora.dropout must be in [0, 1), got {self.dropout}")
        if self.warmup_steps < 0:
            raise ParamsError(f"params: lora.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not self.target_modules:
            raise ParamsError("params: lora.target_modules must name at least one module, e.g. [q_proj, v_proj]")


def _positive(section: str, key: str, value: float) -> None:
    if value <= 0:
        raise ParamsError(f"params: {section}.{key} must be positive, got {value}")


def _coerce(section: str, key: str, value: Any, default: Any, annotation: str) -> Any:
    where = f"params: {section}.{key}"
    if annotation == "str | None":
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ParamsError(f"{where} must be a non-empty string or null, got {value!r}")
        return value
    if isinstance(default, bool):  # not used today; keeps bool from passing as int below
        if not isinstance(value, bool):
            raise ParamsError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str) or not value:
            raise ParamsError(f"{where} must be a non-empty string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise ParamsError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    raise AssertionError(f"no coercion for {where}")  # a field type this module forgot


def section_from_mapping(cls: type, section: str, mapping: Mapping[str, Any] | None):
    """Build one params dataclass from a mapping; unknown keys and wrong types are errors."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ParamsError(f"params: {section} must be a mapping of keys to values, got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ParamsError(
            f"params: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}: allowed are {', '.join(fields)}"
        )
    values = {}
    for name, value in mapping.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        values[name] = _coerce(section, name, value, default, str(f.type))
    params = cls(**values)
    params.check()
    return params


def read_params_file(path: str | Path = DEFAULT_PARAMS_PATH) -> dict[str, Any]:
    """The whole params.yaml as a mapping; a missing file means every section at its defaults."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc.__class__.__name__}); fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections (data, base_model, lora, ...)")
    return data


def load_data_params(path: str | Path = DEFAULT_PARAMS_PATH) -> DataParams:
    return section_from_mapping(DataParams, "data", read_params_file(path).get("data"))


def load_base_model_params(path: str | Path = DEFAULT_PARAMS_PATH) -> BaseModelParams:
    return section_from_mapping(BaseModelParams, "base_model", read_params_file(path).get("base_model"))


def load_lora_params(path: str | Path = DEFAULT_PARAMS_PATH) -> LoraParams:
    return section_from_mapping(LoraParams, "lora", read_params_file(path).get("lora"))
