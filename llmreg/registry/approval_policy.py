"""Approval policy as code: who must approve a production promotion, per name, and the
archival checklist an archive must complete. Pure: the caller passes the approvals, the
author and a `roles_of(actor)` lookup; the result's message always states the policy in force.

The registry default is today's rule: 2 approvals from distinct keys, the author excluded,
no role required. A per-name rule may only tighten the default (more approvals, more
required roles, never let the author count when the default does not).

    policy = ApprovalPolicy.from_dict({"names": {"support-bot": {"required_roles": {"owner": 1, "reviewer": 1}}}})
    result = evaluate(policy, approvals, author="alice", roles_of=roles.roles_of, name="support-bot")
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .fields import EMPTY, as_int, as_mapping, as_str, check_keys, fail, show, type_name, under

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MIN_APPROVALS = 2  # the floor gates.yaml already enforces
RULE_KEYS = ("required", "distinct_keys", "author_may_approve", "required_roles", "archive_checklist")
POLICY_KEYS = ("default", "names")


def _as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        fail(where, f"expected true or false, got {type_name(value)} {show(value)}")
    return value


@dataclass(frozen=True, slots=True)
class ApprovalRule:
    required: int = MIN_APPROVALS
    distinct_keys: bool = True          # count keys, not names: two names on one key count once
    author_may_approve: bool = False
    required_roles: Mapping[str, int] = field(default_factory=lambda: EMPTY)  # role -> approvers holding it
    archive_checklist: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        required = as_int(self.required, "required", lo=MIN_APPROVALS)
        set_(self, "required", required)
        set_(self, "distinct_keys", _as_bool(self.distinct_keys, "distinct_keys"))
        set_(self, "author_may_approve", _as_bool(self.author_may_approve, "author_may_approve"))
        roles = {}
        for role, count in as_mapping(self.required_roles, "required_roles").items():
            as_str(role, "required_roles", max_len=64)
            roles[role] = as_int(count, f"required_roles.{role}", lo=1)
        if sum(roles.values()) > required:
            fail("required_roles", f"asks for {sum(roles.values())} role holders but only {required} approvals; "
                 f"raise required to at least {sum(roles.values())}")
        set_(self, "required_roles", MappingProxyType(dict(sorted(roles.items()))))
        items = self.archive_checklist
        if isinstance(items, str) or not isinstance(items, (list, tuple)):
            fail("archive_checklist", f"expected a list of item names, got {type_name(items)} {show(items)}")
        items = tuple(as_str(item, f"archive_checklist[{i}]", max_len=200) for i, item in enumerate(items))
        if len(set(items)) != len(items):
            fail("archive_checklist", "lists an item twice; keep each once")
        set_(self, "archive_checklist", items)

    def describe(self) -> str:
        """The policy in one clause, as every refusal and the model card show it."""
        who = "distinct keys" if self.distinct_keys else "distinct approvers"
        author = "the author may count" if self.author_may_approve else "the author excluded"
        roles = ""
        if self.required_roles:
            roles = ", including " + " and ".join(f"{n} {role}" for role, n in self.required_roles.items())
        return f"{self.required} approvals from {who}, {author}{roles}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"required": self.required, "distinct_keys": self.distinct_keys,
                               "author_may_approve": self.author_may_approve}
        if self.required_roles:
            out["required_roles"] = dict(self.required_roles)
        if self.archive_checklist:
            out["archive_checklist"] = list(self.archive_checklist)
        return out

    @classmethod
    def from_dict(cls, data: Any, *, base: "ApprovalRule | None" = None) -> "ApprovalRule":
        data = as_mapping(data, "")
        check_keys(data, RULE_KEYS)
        values = (base or cls()).to_dict()
        values.update({k: v for k, v in data.items() if v is not None})
        return cls(**values)

    def loosens(self, floor: "ApprovalRule") -> str | None:
        """Why this rule is weaker than `floor`, or None."""
        if self.required < floor.required:
            return f"required {self.required} is below the registry default {floor.required}"
        if floor.distinct_keys and not self.distinct_keys:
            return "distinct_keys: false loosens the registry default"
        if self.author_may_approve and not floor.author_may_approve:
            return "author_may_approve: true loosens the registry default"
        for role, n in floor.required_roles.items():
            if self.required_roles.get(role, 0) < n:
                return f"required_roles.{role} asks for fewer than the registry default {n}"
        missing = [item for item in floor.archive_checklist if item not in self.archive_checklist]
        if missing:
            return f"archive_checklist drops the registry default's {', '.join(missing)}"
        return None


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    default: ApprovalRule = field(default_factory=ApprovalRule)
    names: Mapping[str, ApprovalRule] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        for name, rule in self.names.items():
            why = rule.loosens(self.default)
            if why:
                fail(f"names.{name}", f"{why}; a name may only tighten the policy")
        object.__setattr__(self, "names", MappingProxyType(dict(self.names)))

    def rule_for(self, name: str | None) -> tuple[ApprovalRule, str]:
        if name is not None and name in self.names:
            return self.names[name], f"approval policy for {name}"
        return self.default, "registry default approval policy"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": self.default.to_dict()}
        if self.names:
            out["names"] = {n: r.to_dict() for n, r in sorted(self.names.items())}
        return out

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<input>") -> "ApprovalPolicy":
        with under(source, file=True):
            data = as_mapping(data, "approvals")
            check_keys(data, POLICY_KEYS)
            with under("default"):
                default = ApprovalRule.from_dict(data.get("default"))
            names = {}
            for name, rule in as_mapping(data.get("names"), "names").items():
                as_str(name, "names", max_len=200)
                with under(f"names.{name}"):
                    names[name] = ApprovalRule.from_dict(rule, base=default)
            return cls(default, names)


@dataclass(frozen=True, slots=True)
class Approval:
    actor: str
    key: str | None = None  # the signing key's fingerprint; None counts the actor name as the key


@dataclass(frozen=True, slots=True)
class PolicyResult:
    ok: bool
    message: str
    policy: str
    counted: tuple[str, ...]             # actors whose approval counts, in approval order
    roles_filled: Mapping[str, tuple[str, ...]]  # role -> actors assigned to it
    notes: tuple[str, ...] = ()

    def evidence(self) -> dict[str, Any]:
        return {"policy": self.policy, "approvers": list(self.counted),
                "roles": {r: list(a) for r, a in self.roles_filled.items()}, "notes": list(self.notes)}


def _assign_roles(required: Mapping[str, int], candidates: list[str],
                  roles_of: Callable[[str], Iterable[str]]) -> dict[str, list[str]]:
    """Give each role slot a distinct approver holding that role (bipartite matching: one
    person holding owner and reviewer fills one slot, not two)."""
    slots = [role for role, n in required.items() for _ in range(n)]
    held = {actor: set(roles_of(actor)) for actor in candidates}
    owner_of: dict[str, int] = {}  # actor -> slot index

    def place(slot: int, seen: set[str]) -> bool:
        for actor in candidates:
            if slots[slot] in held[actor] and actor not in seen:
                seen.add(actor)
                if actor not in owner_of or place(owner_of[actor], seen):
                    owner_of[actor] = slot
                    return True
        return False

    for slot in range(len(slots)):
        place(slot, set())
    filled: dict[str, list[str]] = {role: [] for role in required}
    for actor in candidates:
        if actor in owner_of:
            filled[slots[owner_of[actor]]].append(actor)
    return filled


def evaluate(policy: ApprovalPolicy | ApprovalRule, approvals: Iterable[Approval | Mapping[str, Any]], author: str,
             roles_of: Callable[[str], Iterable[str]], *, name: str | None = None,
             author_key: str | None = None, source: str | None = None) -> PolicyResult:
    """Do these production approvals satisfy the policy in force for `name`? `source` names
    where a bare rule came from (default "approval rule")."""
    rule, source = ((policy, source or "approval rule") if isinstance(policy, ApprovalRule)
                    else policy.rule_for(name))
    stated = f"{source}: {rule.describe()}"
    counted: list[str] = []
    keys_seen: dict[str, str] = {}
    notes: list[str] = []
    for item in approvals:
        if isinstance(item, Approval):
            actor, key = item.actor, item.key
        elif item.get("stage", "production") != "production":
            continue  # an approval for canary does not count towards production
        else:
            actor, key = item.get("actor"), item.get("key")
        if not isinstance(actor, str):
            continue
        key = key or actor
        is_author = actor == author or (author_key is not None and key == author_key)
        if is_author and not rule.author_may_approve:
            notes.append(f"the author {author} cannot approve their own release")
            continue
        if actor in counted:
            notes.append(f"{actor} approved more than once (counted once)")
            continue
        if rule.distinct_keys and key in keys_seen:
            notes.append(f"{actor} signed with the same key as {keys_seen[key]} (counted once)")
            continue
        keys_seen[key] = actor
        counted.append(actor)
    notes = list(dict.fromkeys(notes))
    filled = _assign_roles(rule.required_roles, counted, roles_of)
    short_roles = {role: n - len(filled[role]) for role, n in rule.required_roles.items() if len(filled[role]) < n}
    problems = []
    if len(counted) < rule.required:
        problems.append(f"{len(counted)} of {rule.required} approvals (have: {', '.join(counted) or 'none'})")
    for role, n in short_roles.items():
        problems.append(f"need {n} more approver(s) holding {role}")
    extra = f"; {'; '.join(notes)}" if notes else ""
    frozen = MappingProxyType({r: tuple(a) for r, a in filled.items()})
    if problems:
        return PolicyResult(False, f"{'; '.join(problems)}{extra} (policy: {stated})", stated, tuple(counted), frozen, tuple(notes))
    return PolicyResult(True, f"approved by {', '.join(counted)}{extra} (policy: {stated})", stated, tuple(counted), frozen,
                        tuple(notes))


@dataclass(frozen=True, slots=True)
class ChecklistResult:
    ok: bool
    done: tuple[str, ...]
    open: tuple[str, ...]
    message: str


def check_archive_checklist(items: Iterable[str], recorded: Mapping[str, Any] | None) -> ChecklistResult:
    """The archive gate's checklist: each item must be recorded as `true` (or as a mapping
    with `done: true`, which may carry who/when/notes) in archive_checklist evidence."""
    items = tuple(items)
    recorded = recorded if isinstance(recorded, Mapping) else {}

    def done(item: str) -> bool:
        value = recorded.get(item)
        return value is True or (isinstance(value, Mapping) and value.get("done") is True)

    finished = tuple(i for i in items if done(i))
    open_items = tuple(i for i in items if i not in finished)
    if not items:
        return ChecklistResult(True, (), (), "no archival checklist configured")
    if open_items:
        return ChecklistResult(False, finished, open_items,
                               f"archival checklist incomplete: {', '.join(open_items)} not done; record each as true "
                               f"in archive_checklist evidence")
    return ChecklistResult(True, finished, (), f"archival checklist complete ({len(items)} items: {', '.join(items)})")
