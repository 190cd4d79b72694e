"""Policies as code, per name over a registry default: who must approve a production
promotion (a `config.approvals` event, projected into `config` like gates, so the production
gate and `audit verify`'s replay read the policy in force at that point of the log) and the
drift rule (a `config.drift` event; the drift check reads the newest).

    reg.configure_approval_policy({"names": {"support-bot": {"required_roles": {"owner": 1, "reviewer": 1}}}},
                                  actor="admin")
    rule, source = approval_rule(uow, "support-bot", gates)

Roles named in `required_roles` are roles.yaml roles; roles are registry-wide, so "the owner
of support-bot" is a role such as `support-bot-owner` that only support-bot's policy asks for.
Keys: one key signs for one member (identity.py), so distinct approvers are distinct keys.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from llmreg.registry import events as ev
from llmreg.registry.approval_policy import ApprovalPolicy, ApprovalRule
from llmreg.registry.documents import read_document
from llmreg.registry.drift import DriftPolicy
from llmreg.registry.events import Event
from llmreg.registry.gates_config import GatesConfig
from llmreg.registry.handlers.guard import Deps, authorize, check_actor
from llmreg.registry.store.port import Reads, UnitOfWork

APPROVALS_KEY = "approvals"  # the config projection's key


@dataclass(frozen=True)
class ConfigureApprovals:
    policy: ApprovalPolicy
    actor: str


@dataclass(frozen=True)
class ConfigureDrift:
    policy: DriftPolicy
    actor: str


def _document(policy: Any, kind: str) -> tuple[Any, str]:
    if isinstance(policy, (str, os.PathLike)):
        return read_document(os.fspath(policy), kind), os.fspath(policy)
    return policy, "<input>"


def approvals_command(policy: Any, *, actor: str) -> ConfigureApprovals:
    """policy: an ApprovalPolicy, a mapping {default: {...}, names: {NAME: {...}}} or a YAML/JSON path."""
    actor = check_actor(actor)
    if isinstance(policy, ApprovalPolicy):
        return ConfigureApprovals(policy, actor)
    data, source = _document(policy, "approval policy")
    return ConfigureApprovals(ApprovalPolicy.from_dict(data, source=source), actor)


def drift_command(policy: Any, *, actor: str) -> ConfigureDrift:
    actor = check_actor(actor)
    if isinstance(policy, DriftPolicy):
        return ConfigureDrift(policy, actor)
    data, source = _document(policy, "drift policy")
    return ConfigureDrift(DriftPolicy.from_dict(data, source=source), actor)


def configure_approvals(cmd: ConfigureApprovals, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_APPROVALS, actor=cmd.actor, payload={APPROVALS_KEY: cmd.policy.to_dict()})]


def configure_drift(cmd: ConfigureDrift, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_DRIFT, actor=cmd.actor, payload={"drift": drift_to_dict(cmd.policy)})]


def drift_to_dict(policy: DriftPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {"default": policy.default.to_dict()}
    if policy.names:
        out["names"] = {n: r.to_dict() for n, r in sorted(policy.names.items())}
    return out


def approval_policy(reads: Reads) -> ApprovalPolicy:
    """The approval policy in force as `reads` sees it (a transaction, the store, or the audit's
    replay of a log prefix); the registry default until one is configured."""
    row = reads.config(APPROVALS_KEY)
    return ApprovalPolicy.from_dict(row[0]) if row else ApprovalPolicy()


def approval_rule(reads: Reads, name: str, gates: GatesConfig) -> tuple[ApprovalRule, str]:
    """(rule, where it came from) for `name`. gates.yaml's required_production_approvals stays
    a floor under every rule, so configuring a policy never loosens what gates.yaml asked."""
    rule, source = approval_policy(reads).rule_for(name)
    if rule.required < gates.required_production_approvals:
        rule = dataclasses.replace(rule, required=gates.required_production_approvals)
        source += " (required raised to gates.yaml required_production_approvals)"
    return rule, source


def stated(rule: ApprovalRule, source: str) -> str:
    """The policy in force, as refusals and the model card state it."""
    return f"{source}: {rule.describe()}"


def drift_policy(queries: Any) -> DriftPolicy:
    """The newest configured drift policy, else the defaults (drift.DriftRule)."""
    found = queries.events(types=(ev.CONFIG_DRIFT,), newest_first=True, limit=1)
    return DriftPolicy.from_dict(found[0].payload["drift"]) if found else DriftPolicy()
