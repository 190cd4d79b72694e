"""The registry's own configuration documents: roles and gates (audited, as events)."""
from __future__ import annotations

import os
from collections.abc import Mapping
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
    signers: Any = None  # signers.AllowedSigners, or None: keep the keys bound now


@dataclass(frozen=True)
class ConfigureGates:
    gates: GatesConfig
    actor: str


def roles_command(roles: Any, *, actor: str, signers: Any = None) -> ConfigureRoles:
    """roles: a Roles, a mapping or a roles.yaml path; a mapping/file may hold `signers:`
    {member: ["ssh-ed25519 AAAA...", ...]} binding members to their public keys. `signers`:
    an AllowedSigners, such a mapping, or an allowed-signers file path (replaces the file's)."""
    actor = check_actor(actor)
    # pydantic loads here, on a write, never on resolve's path (Registry imports this module).
    from llmreg.registry.policy_documents import parse_roles
    from llmreg.registry.signers import AllowedSigners, read_allowed_signers

    source = "<input>"
    if isinstance(roles, (str, os.PathLike)):
        from llmreg.registry.documents import read_document

        source = os.fspath(roles)
        roles = read_document(source, "roles")
    in_file = None
    if isinstance(roles, Mapping) and "signers" in roles:
        roles = dict(roles)
        in_file = roles.pop("signers")
    # A Roles built in code is checked like a file: its stored form goes through the same model.
    parsed = parse_roles(roles.to_dict() if isinstance(roles, Roles) else roles, source=source)
    if signers is None and in_file is not None:
        signers = AllowedSigners.from_payload(in_file, source="roles.signers")
    elif isinstance(signers, (str, os.PathLike)):
        signers = read_allowed_signers(os.fspath(signers))
    elif signers is not None and not isinstance(signers, AllowedSigners):
        signers = AllowedSigners.from_payload(signers)
    if not parsed.open_mode and not any(parsed.allows(member, "configure") for member in parsed.members):
        raise BadInput("roles: no member would hold `configure`, so nobody could change roles again; "
                       "give someone a role with configure (e.g. admin: ['*'])", field="roles")
    if signers is not None and not parsed.open_mode:
        for member in signers.members:
            written = next((m for m in parsed.members if m.casefold() == member.casefold()), None)
            if written is not None and written != member:
                raise BadInput(f"signers.{member}: the member is written {written!r} under members; spell it one "
                               "way (names compare case-insensitively)", field="signers")
    return ConfigureRoles(parsed, actor, signers)


def gates_command(gates: Any, *, actor: str) -> ConfigureGates:
    """gates: a GatesConfig, a mapping or a gates.yaml path."""
    actor = check_actor(actor)
    from llmreg.registry.policy_documents import load_gates, parse_gates  # pydantic: on a write only

    if isinstance(gates, (str, os.PathLike)):
        return ConfigureGates(load_gates(gates), actor)
    # A GatesConfig built in code is checked like a file: its stored form goes through the same model.
    return ConfigureGates(parse_gates(gates.to_dict() if isinstance(gates, GatesConfig) else gates), actor)


def configure_roles(cmd: ConfigureRoles, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Roles and key bindings change together, signed by a key allowed to configure; the new
    bindings must still let the acting key configure, so nobody locks the registry."""
    authorize(uow, deps, cmd.actor, "configure", name=None)
    payload: dict[str, Any] = {"roles": cmd.roles.to_dict()}
    if cmd.signers is not None:
        if not len(cmd.signers):
            raise BadInput("signers: the list is empty; bind at least the admin's key", field="signers")
        key = uow.key
        member = cmd.signers.member_for(key.fingerprint) if key is not None else None
        if key is not None and (member is None or not cmd.roles.allows(member, "configure")):
            raise BadInput(f"signers: your key {key.fingerprint} would not be bound to a member who may configure, "
                           "so nobody could change roles or keys again; bind it under your name "
                           "(`llmreg keys show` prints it)", field="signers")
        payload["signers"] = cmd.signers.to_payload()
    else:
        bound = uow.config("signers")
        if bound and bound[0]:
            payload["signers"] = bound[0]  # every roles event carries the whole binding
    return [uow.append(ev.CONFIG_ROLES, actor=cmd.actor, payload=payload)]


def configure_gates(cmd: ConfigureGates, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_GATES, actor=cmd.actor, payload={"gates": cmd.gates.to_dict()})]
