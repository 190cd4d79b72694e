"""The registry's own configuration documents: roles and gates (audited, as events)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from llmreg.registry import events as ev
from llmreg.registry.events import Event
from llmreg.registry.gates_config import GatesConfig
from llmreg.registry.errors import BadInput
from llmreg.registry.handlers.guard import Deps, authorize, check_actor
from llmreg.registry.roles import Roles
from llmreg.registry.store.port import UnitOfWork


@dataclass(frozen=True)
class ConfigureRoles:
    roles: Roles
    actor: str


@dataclass(frozen=True)
class ConfigureGates:
    gates: GatesConfig
    actor: str


def roles_command(roles: Any, *, actor: str) -> ConfigureRoles:
    """roles: a Roles, a mapping or a roles.yaml path."""
    actor = check_actor(actor)
    parsed = roles if isinstance(roles, Roles) else (
        Roles.from_file(roles) if isinstance(roles, (str, os.PathLike)) else Roles.from_dict(roles))
    if not parsed.open_mode and not any(parsed.allows(member, "configure") for member in parsed.members):
        raise BadInput("roles: no member would hold `configure`, so nobody could change roles again; "
                       "give someone a role with configure (e.g. admin: ['*'])", field="roles")
    return ConfigureRoles(parsed, actor)


def gates_command(gates: Any, *, actor: str) -> ConfigureGates:
    """gates: a GatesConfig, a mapping or a gates.yaml path."""
    actor = check_actor(actor)
    parsed = gates if isinstance(gates, GatesConfig) else (
        GatesConfig.from_file(gates) if isinstance(gates, (str, os.PathLike)) else GatesConfig.from_dict(gates))
    return ConfigureGates(parsed, actor)


def configure_roles(cmd: ConfigureRoles, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_ROLES, actor=cmd.actor, payload={"roles": cmd.roles.to_dict()})]


def configure_gates(cmd: ConfigureGates, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_GATES, actor=cmd.actor, payload={"gates": cmd.gates.to_dict()})]
