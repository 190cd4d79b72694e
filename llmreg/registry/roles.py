"""Who may do what: roles grant actions, members hold roles (roles.yaml).

Roles decide who may act; the lifecycle gates still decide whether a release is ready
(two distinct non-author approvers for production, whatever anyone's role).
`Roles.open()` allows everything: the embedded/bootstrap mode before roles are configured.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .canonical import canonical_digest
from .errors import BadInput, Forbidden
from .fields import ACTOR_RE, EMPTY, show, suggestion, validate_actor
from .patterns import lazy_re

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
ROLE_RE = lazy_re(r"^[a-z0-9][a-z0-9._-]{0,63}$")
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
        # Normalisation only: a roles document is validated where it is written
        # (policy_documents.parse_roles, pydantic); what the store holds was, so reads trust it.
        def listed(value: Any) -> tuple[str, ...]:
            return tuple(dict.fromkeys([value] if isinstance(value, str) else value))

        object.__setattr__(self, "roles", MappingProxyType({r: listed(a) for r, a in dict(self.roles).items()}))
        object.__setattr__(self, "members", MappingProxyType({m: listed(h) for m, h in dict(self.members).items()}))
        object.__setattr__(self, "open_mode", bool(self.open_mode))

    def __hash__(self) -> int:
        return hash(canonical_digest(self.to_dict()))

    # -- construction --------------------------------------------------------

    @classmethod
    def open(cls) -> "Roles":
        """No roles configured: every actor may do everything (embedded/bootstrap mode)."""
        return cls(open_mode=True)

    @classmethod
    def from_dict(cls, data: Any) -> "Roles":
        """The stored form (`to_dict()`), trusted: it was validated when written. A document a
        person wrote goes through policy_documents.parse_roles / load_roles instead."""
        if data.get("open") is True:
            return cls.open()
        return cls(roles=data.get("roles") or {}, members=data.get("members") or {})

    @classmethod
    def default(cls, members: Mapping[str, Any] | None = None) -> "Roles":
        """The shipped role set (viewer, developer, reviewer, release-manager, slo-guard,
        rollback-drill, drift-monitor, admin) with the file's members (system:slo-guard,
        system:rollback-drill, system:drift-monitor) plus `members`; an actor in both gets the roles
        given here."""
        from .documents import read_document

        base = cls.from_dict(read_document(DEFAULT_ROLES_FILE, "roles"))  # shipped; a test validates it
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
