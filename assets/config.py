"""Run config for the chain's assets: params.yaml's sections as `dg.Config`, in one place.

The config classes are generated from the pydantic models in training/params.py, so a new
key in params.yaml needs no second declaration. `params_run_config` turns a loaded
params.yaml into the job's default run config (built when the code location loads), and
`ParamsConfig.to_params()` validates whatever the launchpad sent with the same models, so a
bad value fails with the same one-line error DVC's stages give.
"""
import typing
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import create_model

from training.params import (
    BaseModelParams,
    DataParams,
    EvalParams,
    LoraParams,
    Params,
    RegistryParams,
    load_params,
    params_from_mapping,
)

# The assets that read params (the whole chain: each records the sections it used).
CHAIN_ASSETS = ("support_tickets", "ticket_splits", "base_model", "lora_adapter", "evaluation_report",
                "registry_entry")


def _config_type(annotation: Any) -> Any:
    """Dagster config takes scalars, Optional and lists: tuples become lists, Literals strings."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return list[typing.get_args(annotation)[0]]
    if origin is typing.Literal:
        return str
    return annotation


def _section_config(name: str, model: type) -> type[dg.Config]:
    fields = {field: (_config_type(info.annotation), info.get_default(call_default_factory=True))
              for field, info in model.model_fields.items()}
    for field, (kind, default) in fields.items():
        if isinstance(default, tuple):
            fields[field] = (kind, list(default))
    return create_model(name, __base__=dg.Config, **fields)  # type: ignore[call-overload]


DataConfig = _section_config("DataConfig", DataParams)
BaseModelConfig = _section_config("BaseModelConfig", BaseModelParams)
LoraConfig = _section_config("LoraConfig", LoraParams)
EvalConfig = _section_config("EvalConfig", EvalParams)
RegistryConfig = _section_config("RegistryConfig", RegistryParams)
_SECTIONS = {"data": DataConfig, "base_model": BaseModelConfig, "lora": LoraConfig, "eval": EvalConfig,
             "registry": RegistryConfig}


class ParamsConfig(dg.Config):
    """params.yaml as run config; defaults are the documented defaults of training/params.py."""

    data: DataConfig = DataConfig()  # type: ignore[valid-type]
    base_model: BaseModelConfig = BaseModelConfig()  # type: ignore[valid-type]
    lora: LoraConfig = LoraConfig()  # type: ignore[valid-type]
    eval: EvalConfig = EvalConfig()  # type: ignore[valid-type]
    registry: RegistryConfig = RegistryConfig()  # type: ignore[valid-type]

    def to_params(self, project_params: Path | None = None) -> Params:
        """The validated params; data_versioning (not run config) comes from the project's file."""
        data = self.model_dump()
        if project_params is not None and project_params.exists():
            versioning = load_params(project_params).data_versioning
            if versioning is not None:
                data["data_versioning"] = versioning.model_dump()
        return params_from_mapping(data, source="run config")


def params_config(params: Params) -> ParamsConfig:
    data = params.model_dump(mode="json", exclude={"data_versioning"})
    return ParamsConfig(**{name: _SECTIONS[name](**values) for name, values in data.items()})


def params_run_config(params_file: Path) -> dg.RunConfig:
    """Every chain asset configured from params.yaml (the job's default run config)."""
    config = params_config(load_params(params_file))
    return dg.RunConfig(ops={key: config for key in CHAIN_ASSETS})
