"""Who may do what: roles grant actions, members hold roles (roles.yaml).

Roles decide who may act; the lifecycle gates still decide whether a release is ready
(two distinct non-author approvers for production, whatever anyone's role).
`Roles.open()` allows everything: the embedded/bootstrap mode before roles are configured.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .canonical import canonical_digest
from .errors import BadInput, Forbidden
from .fields import (
    ACTOR_RE,
    EMPTY,
    check_keys,
    fail,
    show,
    suggestion,
    type_name,
    under,
    validate_actor,
)

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ACTIONS", "ACTOR_RE", "Roles", "validate_actor", "DEFAULT_ROLES_FILE"]

ACTIONS = (
    "register",
    "promote:staging",
    "promote:canary",
    "promote:production",
    "archive",
    "approve:canary",
    "approve:production",
    "rollback",
    "record_evidence",
    "record_slo",  # canary_slo evidence: the figures the production gate reads (the SLO guard's key)
    "record_eval",
    "configure",
    "read",
)
WILDCARDS = ("*", "promote:*", "approve:*")
ROLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DEFAULT_ROLES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_roles.yaml")


def _matches(pattern: str, action: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(":*"):
        return action.startswith(pattern[:-1])
    return pattern == action


def check_action(action: Any) -> str:
    if action not in ACTIONS:
        raise BadInput(f"action: {show(action)} is not a registry action; {suggestion(str(action), ACTIONS).replace('known fields', 'actions')}", field="action")
    return action


def _article(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


@dataclass(frozen=True, slots=True)
class Roles:
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)  # role -> action patterns
    members: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)  # actor -> roles
    open_mode: bool = False

    def __post_init__(self) -> None:
        roles: dict[str, tuple[str, ...]] = {}
        for role, actions in dict(self.roles).items():
            if not isinstance(role, str) or not ROLE_RE.match(role):
                fail(f"roles.{role}", f"role name {show(role)} must match {ROLE_RE.pattern}; rename it")
            if isinstance(actions, str):
                actions = [actions]
            if not isinstance(actions, (list, tuple)):
                fail(f"roles.{role}", f"expected a list of actions, got {type_name(actions)} {show(actions)}")
            checked = []
            for i, action in enumerate(actions):
                if action not in ACTIONS and action not in WILDCARDS:
                    fail(f"roles.{role}[{i}]", f"{show(action)} is not an action; {suggestion(str(action), ACTIONS + WILDCARDS).replace('known fields', 'actions')}")
                if action not in checked:
                    checked.append(action)
            roles[role] = tuple(checked)
        members: dict[str, tuple[str, ...]] = {}
        for actor, held in dict(self.members).items():
            validate_actor(actor, f"members.{actor}")
            if isinstance(held, str):
                held = [held]
            if not isinstance(held, (list, tuple)):
                fail(f"members.{actor}", f"expected a list of role names, got {type_name(held)} {show(held)}")
            for role in held:
                if role not in roles:
                    known = list(roles) or ["(no roles defined)"]
                    fail(f"members.{actor}", f"unknown role {show(role)}; {suggestion(str(role), known).replace('known fields', 'roles')}")
            members[actor] = tuple(dict.fromkeys(held))
        object.__setattr__(self, "roles", MappingProxyType(roles))
        object.__setattr__(self, "members", MappingProxyType(members))
        object.__setattr__(self, "open_mode", bool(self.open_mode))

    def __hash__(self) -> int:
        return hash(canonical_digest(self.to_dict()))

    # -- construction --------------------------------------------------------

    @classmethod
    def open(cls) -> "Roles":
        """No roles configured: every actor may do everything (embedded/bootstrap mode)."""
        return cls(open_mode=True)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<input>") -> "Roles":
        with under(source, file=True):
            if not isinstance(data, Mapping):
                fail("roles", f"expected a mapping {{roles: ..., members: ...}}, got {type_name(data)}")
            if data.get("open") is True:
                check_keys(data, ("open",))
                return cls.open()
            check_keys(data, ("roles", "members"), required=("roles",))
            for key in ("roles", "members"):
                if data.get(key) is not None and not isinstance(data[key], Mapping):
                    fail(key, f"expected a mapping, got {type_name(data[key])} {show(data[key])}")
            return cls(roles=data["roles"], members=data.get("members") or {})

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> "Roles":
        from .entry import read_document

        source = os.fspath(path)
        return cls.from_dict(read_document(source, "roles"), source=source)

    @classmethod
    def default(cls, members: Mapping[str, Any] | None = None) -> "Roles":
        """The shipped role set (viewer, developer, reviewer, release-manager, slo-guard,
        rollback-drill, drift-monitor, admin) with the file's members (system:slo-guard,
        system:rollback-drill, system:drift-monitor) plus `members`; an actor in both gets the roles
        given here."""
        base = cls.from_file(DEFAULT_ROLES_FILE)
        return cls(roles=base.roles, members={**base.members, **dict(members or {})})

    def to_dict(self) -> dict[str, Any]:
        if self.open_mode:
            return {"open": True}
        return {
            "roles": {role: list(actions) for role, actions in self.roles.items()},
            "members": {actor: list(held) for actor, held in self.members.items()},
        }

    # -- questions -----------------------------------------------------------

    def roles_of(self, actor: str) -> tuple[str, ...]:
        return self.members.get(actor, ())

    def granting_roles(self, action: str) -> list[str]:
        """Roles whose actions include `action`."""
        check_action(action)
        return [role for role, patterns in self.roles.items() if any(_matches(p, action) for p in patterns)]

    def allows(self, actor: str, action: str) -> bool:
        check_action(action)
        validate_actor(actor)
        if self.open_mode:
            return True
        return any(_matches(p, action) for role in self.roles_of(actor) for p in self.roles.get(role, ()))

    def check(self, actor: str, action: str) -> None:
        """Raise Forbidden (one line: who, which roles, what, who can grant it) unless allowed."""
        if self.allows(actor, action):
            return
        held = ", ".join(self.roles_of(actor)) or "none"
        grantors = self.granting_roles(action)
        if grantors:
            fix = f"ask {_either([_article(r) for r in grantors])} to grant it in roles.yaml"
        else:
            fix = f"no role grants {action}; an admin must add it to a role in roles.yaml"
        raise Forbidden(f"actor {actor!r} (roles: {held}) may not {action}; {fix}")
