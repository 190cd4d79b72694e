"""Configuration documents (gateway, providers, params, suites; gates and roles in
policy_documents.py) as pydantic models, read through the one document loader and reported in the project's one error shape:
"file: field.path: problem; fix", raised as `BadInput` (exit 2).

pydantic is imported here only, and only by loaders of configuration files, so the core's
hot path (`resolve`) never pays for it.

    class GatewayConfig(ConfigModel):
        port: int = Field(8080, ge=0, le=65535)

    cfg = load_config("gateway.yaml", GatewayConfig, what="gateway config")
"""
from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .documents import load_document, read_document
from .errors import BadInput
from .fields import one_line, show, suggestion

M = TypeVar("M", bound="ConfigModel")


class ConfigModel(BaseModel):
    """Base of every configuration document model: unknown keys are errors (a typo must not
    be silently ignored), values are frozen once read, and numbers are not parsed from text."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, str_strip_whitespace=False,
                              validate_default=True)

    @classmethod
    def parse(cls: type[M], data: Any, *, source: str = "<input>", prefix: str = "") -> M:
        """Validate loaded data; a failure is one BadInput line naming the first bad field."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise BadInput(f"{source}: expected a mapping of settings, got {type(data).__name__}; "
                           "write `key: value` lines", field=prefix or "document")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise validation_error(exc, cls, source=source, prefix=prefix) from None


def field_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """('backends', 0, 'url') -> 'backends[0].url'."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "document"


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at the mapping that holds loc's last part."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        annotation = info.annotation
        current = _model_in(annotation)
    return list(getattr(current, "model_fields", {}) or [])


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside Optional[X], list[X], dict[str, X] or X."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def validation_error(exc: ValidationError, model: type[BaseModel], *, source: str, prefix: str = "") -> BadInput:
    """The first pydantic error as the project's one line: "source: field: problem; fix"."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(err.get("loc", ()))
    where = field_path(loc, prefix)
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        known = _known_keys(model, loc)
        detail = f"unknown key; {suggestion(str(loc[-1]), known)}" if known and loc else "unknown key; remove it"
    elif kind == "missing":
        detail = "required; add it"
    else:
        message = str(err.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        got = err.get("input")
        detail = f"{message}, got {show(got)}" if got is not None and kind != "value_error" else message
        if "; " not in detail:
            detail += "; fix the value"
    return BadInput(one_line(f"{source}: {where}: {detail}"), field=where)


def load_config(path: str | os.PathLike[str], model: type[M], *, what: str) -> M:
    """Read a YAML/JSON configuration file and validate it against `model`."""
    source = os.fspath(path)
    return model.parse(read_document(source, what), source=source)


def parse_config_text(text: str, model: type[M], *, source: str = "<input>") -> M:
    return model.parse(load_document(text, source=source), source=source)
