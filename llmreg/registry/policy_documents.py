"""gates.yaml and roles.yaml as pydantic models (config_models.ConfigModel), read only where
they are written or checked: `llmreg gates set` / `roles set`, Registry.configure_gates /
configure_roles. The resolve path never imports this module (the `hot-path` import-linter
contract): what the store holds was validated here when it was written, and the read side
folds it back with `GatesConfig.from_dict` / `Roles.from_dict`, which trust it.

Structure (unknown keys with a suggestion, required keys, nesting, field paths) is pydantic's;
the scalar rules are the project's own (`fields.py`: numbers, actor names), so an entry's
`gates:` block and gates.yaml say the same thing about the same value. Errors are one line:
"gates.yaml: canary_slo.max_p99_ms: must be above 0 milliseconds; ...".

    gates = load_gates("gates.yaml")            # a GatesConfig
    roles = parse_roles({"roles": {...}, "members": {...}}, source="roles.yaml")
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Callable, Literal, TypeVar

from pydantic import AfterValidator, BeforeValidator, Field

from .config_models import ConfigModel
from .documents import read_document
from .errors import BadInput
from .fields import as_int, as_number, as_str, fail, show, suggestion, type_name, under, validate_actor
from .gates_config import MIN_PRODUCTION_APPROVALS, GatesConfig
from .roles import ACTIONS, ROLE_RE, WILDCARDS, Roles

M = TypeVar("M", bound=ConfigModel)


def _rule(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A fields.py check as a pydantic validator (None passes: the setting is not given); its
    BadInput detail becomes the field's error."""
    def validate(value: Any) -> Any:
        if value is None:
            return None
        try:
            return check(value)
        except BadInput as exc:
            raise ValueError(exc.detail or str(exc)) from None
    return validate


def _listed(what: str, *, one: bool = True) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if value is None:
            return []
        if one and isinstance(value, str):
            return [value]  # `viewer: read` is a list of one
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of {what}, got {type_name(value)} {show(value)}")
        return list(value)
    return validate


def _mapping(example: str) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, ConfigModel):
            return value  # a default already built
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a mapping such as {example}, got {type_name(value)} {show(value)}")
        return dict(value)
    return validate


def _positive_ms(value: Any) -> float:
    value = as_number(value, "max_p99_ms", lo=0.0)
    if value <= 0:
        raise ValueError("must be above 0 milliseconds; give the p99 latency bound, e.g. 800")
    return value


def _approvals(value: Any) -> int:
    value = as_int(value, "required_production_approvals")
    if value < MIN_PRODUCTION_APPROVALS:
        raise ValueError(f"{value} is below {MIN_PRODUCTION_APPROVALS}: production needs two distinct approvers, "
                         "neither the author")
    return value


def _unique(items: list[str]) -> list[str]:
    if len(set(items)) != len(items):
        raise ValueError("lists an item twice; keep each once")
    return items


def _action(value: Any) -> str:
    if value not in ACTIONS and value not in WILDCARDS:
        hint = suggestion(str(value), ACTIONS + WILDCARDS).replace("known fields", "actions")
        raise ValueError(f"{show(value)} is not an action; {hint}")
    return value


# Optional settings are `Annotated[X | None, BeforeValidator(...)]`, not `Annotated[X, ...] | None`:
# the check runs before any union, so an error names the field and nothing else.
Fraction = Annotated[float | None, BeforeValidator(_rule(lambda v: as_number(v, "value", lo=0.0, hi=1.0)))]
Name = Annotated[str, BeforeValidator(_rule(lambda v: as_str(v, "value", max_len=200)))]
Actions = Annotated[list[Annotated[str, AfterValidator(_action)]], BeforeValidator(_listed("actions"))]
RoleNames = Annotated[list[str], BeforeValidator(_listed("role names"))]


class CanarySlo(ConfigModel):
    max_error_rate: Fraction = None
    max_p99_ms: Annotated[float | None, BeforeValidator(_rule(_positive_ms))] = None
    min_calls: Annotated[int | None, BeforeValidator(_rule(lambda v: as_int(v, "min_calls", lo=1)))] = None
    min_eval_score: Fraction = None


class GatesDocument(ConfigModel):
    """gates.yaml: registry-wide floors (gates_config.py says how they combine)."""

    eval_threshold: Fraction = None
    suite_thresholds: Annotated[dict[Name, Fraction], BeforeValidator(_mapping("{triage-eval: 0.9}"))] = {}
    fairness_max_gap: Fraction = None
    canary_slo: Annotated[CanarySlo, BeforeValidator(_mapping("{max_p99_ms: 800}"))] = Field(default_factory=CanarySlo)
    required_production_approvals: Annotated[int | None, BeforeValidator(_rule(_approvals))] = None
    archive_checklist: Annotated[list[Name], BeforeValidator(_listed("checklist item names", one=False)),
                                 AfterValidator(_unique)] = []

    def to_config(self) -> GatesConfig:
        return GatesConfig(**{k: v for k, v in self.model_dump(exclude_none=True).items() if v not in ({}, [])})


class RolesDocument(ConfigModel):
    """roles.yaml: roles grant actions, members hold roles (`signers:` is handled by the caller)."""

    roles: Annotated[dict[str, Actions], BeforeValidator(_mapping("{developer: [read, register]}"))]
    members: Annotated[dict[str, RoleNames], BeforeValidator(_mapping("{alice: [developer]}"))] = {}

    def check_names(self) -> None:
        """Role and member names are keys, so their errors name the key (BadInput with that field)."""
        for role in self.roles:
            if not ROLE_RE.match(role):
                fail(f"roles.{role}", f"role name {show(role)} must match {ROLE_RE.pattern}; rename it")
        known = list(self.roles) or ["(no roles defined)"]
        for actor, held in self.members.items():
            validate_actor(actor, f"members.{actor}")
            for role in held:
                if role not in self.roles:
                    fail(f"members.{actor}", f"unknown role {show(role)}; "
                                             f"{suggestion(str(role), known).replace('known fields', 'roles')}")

    def to_config(self) -> Roles:
        return Roles(roles={role: tuple(dict.fromkeys(actions)) for role, actions in self.roles.items()},
                     members={actor: tuple(dict.fromkeys(held)) for actor, held in self.members.items()})


class OpenRoles(ConfigModel):
    """`open: true`: everyone may do everything (the embedded default), and nothing else."""

    open: Literal[True]


def _parse(model: type[M], data: dict, source: str) -> M:
    """model.parse, with no "<input>: " prefix for a document given in code (as fields.under does)."""
    try:
        return model.parse(data, source=source)
    except BadInput as exc:
        if source != "<input>":
            raise
        raise BadInput(str(exc).removeprefix(f"{source}: "), field=exc.field) from None


def parse_gates(data: Any, *, source: str = "<input>") -> GatesConfig:
    """A gates document (mapping, None = defaults) -> GatesConfig, or one BadInput line."""
    where = "" if source == "<input>" else f"{source}: "
    if data is None:
        return GatesConfig()
    if not isinstance(data, Mapping):
        raise BadInput(f"{where}gates: expected a mapping of gate settings, got {type_name(data)}; "
                       "write `eval_threshold: 0.8` lines", field="gates")
    return _parse(GatesDocument, dict(data), source).to_config()


def parse_roles(data: Any, *, source: str = "<input>") -> Roles:
    """A roles document ({roles, members} or {open: true}) -> Roles, or one BadInput line."""
    if not isinstance(data, Mapping):
        where = "" if source == "<input>" else f"{source}: "
        raise BadInput(f"{where}roles: expected a mapping {{roles: ..., members: ...}}, got {type_name(data)}",
                       field="roles")
    if data.get("open") is True:
        _parse(OpenRoles, dict(data), source)
        return Roles.open()
    document = _parse(RolesDocument, dict(data), source)
    with under(source, file=True):
        document.check_names()
    return document.to_config()


def load_gates(path: str | os.PathLike[str]) -> GatesConfig:
    source = os.fspath(path)
    return parse_gates(read_document(source, "gates"), source=source)


def load_roles(path: str | os.PathLike[str]) -> Roles:
    source = os.fspath(path)
    return parse_roles(read_document(source, "roles"), source=source)
