"""The registry's own configuration documents: roles and gates (audited, as events)."""
from __future__ import annotations

from dataclasses import dataclass

from llmreg.registry import events as ev
from llmreg.registry.events import Event
from llmreg.registry.gates_config import GatesConfig
from llmreg.registry.handlers.guard import Deps, authorize
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


def configure_roles(cmd: ConfigureRoles, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_ROLES, actor=cmd.actor, payload={"roles": cmd.roles.to_dict()})]


def configure_gates(cmd: ConfigureGates, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_GATES, actor=cmd.actor, payload={"gates": cmd.gates.to_dict()})]
