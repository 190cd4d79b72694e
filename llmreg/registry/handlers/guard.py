"""What every handler shares: authorization, refusal records, promotion gate records."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from llmreg.registry import events as ev
from llmreg.registry.entry import Entry
from llmreg.registry.errors import BadInput, Forbidden, GateFailed, IntegrityError, Refused
from llmreg.registry.fields import validate_actor
from llmreg.registry.gates_config import GatesConfig, suite_fairness_max_gap
from llmreg.registry.lifecycle import GateResult, PromotionContext, current_eval, summarize
from llmreg.registry.roles import Roles
from llmreg.registry.store.port import CommitThenRaise, Reads, UnitOfWork


@dataclass(frozen=True)
class Deps:
    """What a handler may ask of the registry beyond its unit of work."""

    config: Callable[[UnitOfWork], tuple[Roles, GatesConfig]]  # roles and gates as of the transaction
    entry: Callable[[Reads, str, str], Entry]  # a stored entry (immutable, so it may come from a cache)


def check_actor(actor: Any) -> str:
    if actor is None or actor == "":
        raise BadInput("actor: who is acting? pass actor=... (CLI: --actor NAME or LLMREG_ACTOR)", field="actor")
    return validate_actor(actor)


def refuse(uow: UnitOfWork, error: Exception, *, actor: str, action: str, name: str | None,
           version: str | None, env: str | None, evidence: Mapping | None = None) -> None:
    """Record the refused attempt, commit it, then raise `error`."""
    uow.append(ev.ACTION_REFUSED, actor=actor, name=name, version=version, env=env,
               payload={"action": action, "reason": str(error), "error": type(error).__name__},
               evidence=evidence or {})
    raise CommitThenRaise(error)


def authorize(uow: UnitOfWork, deps: Deps, actor: str, action: str, *, name: str | None,
              version: str | None = None, env: str | None = None) -> GatesConfig:
    """Refuse (recorded) unless the actor's roles allow `action`; returns the gates config."""
    roles, gates = deps.config(uow)
    try:
        roles.check(actor, action)
    except Forbidden as exc:
        refuse(uow, exc, actor=actor, action=action, name=name, version=version, env=env)
    return gates


def promotion_context(reads: Reads, entry: Entry, env: str, target: str, actor: str, gates: GatesConfig,
                      provisional: tuple = ()) -> PromotionContext:
    """Everything the lifecycle gates judge, read from the projection."""
    name, version = entry.name, entry.version
    state = reads.state(name, version, env)
    production = reads.pointer(name, env, "production")
    ctx = PromotionContext(
        entry=entry, env=env, target=target, actor=actor,
        current_status=state[0] if state else "development",
        production_holder=production[0] if production else None,
        reviews=tuple(reads.reviews(name, version, env)),
        approvals=tuple(reads.approvals(name, version, env, stage=target)),
        evidence=tuple(reads.evidence(name, version, env)) + tuple(provisional),
        eval_records=tuple(reads.eval_records(name, version)),
        gates=gates,
    )
    settings = suite_settings(reads, ctx)
    if target in ("production", "archived"):  # approvals; the archive checklist a name's policy adds
        settings.update(approval_settings(reads, name, gates, ctx.approvals))
    return dataclasses.replace(ctx, **settings) if settings else ctx


def approval_settings(reads: Reads, name: str, gates: GatesConfig, approvals: Sequence[Mapping]) -> dict[str, Any]:
    """The approval policy in force for `name` and the roles its approvers hold, both as `reads`
    sees them (so the audit's replay of a log prefix judges with what was in force then)."""
    from llmreg.registry.handlers.policy import approval_rule

    rule, source = approval_rule(reads, name, gates)
    member_roles: dict[str, tuple[str, ...]] = {}
    if rule.required_roles:
        row = reads.config("roles")
        roles = Roles.from_dict(row[0]) if row else Roles.open()
        member_roles = {a["actor"]: roles.roles_of(a["actor"]) for a in approvals if isinstance(a.get("actor"), str)}
    return {"approval_rule": rule, "approval_source": source, "member_roles": member_roles}


def suite_settings(reads: Reads, ctx: PromotionContext) -> dict[str, Any]:
    """What the registered suite of the eval being judged sets: threshold, fairness bound, its ref."""
    data, _ = current_eval(ctx)
    if not data or not data.get("suite"):
        return {}
    suite = reads.suite(data["suite"], data.get("suite_version"))
    if suite is None:
        return {}
    settings: dict[str, Any] = {"suite_ref": f"{suite['name']}@{suite['version']}"}
    if suite["threshold"] is not None:
        settings["suite_threshold"] = suite["threshold"]
    gap = suite_fairness_max_gap(suite["definition"])
    if gap is not None:
        settings["suite_fairness_max_gap"] = gap
    return settings


def record_gates(uow: UnitOfWork, results: Sequence[GateResult], target: str, actor: str, name: str,
                 version: str, env: str, attached: Mapping) -> list:
    appended = []
    for result in results:
        evidence = dict(result.evidence)
        if attached:
            evidence["attached"] = dict(attached)
        appended.append(uow.append(
            ev.GATE_PASSED if result.passed else ev.GATE_FAILED, actor=actor, name=name, version=version,
            env=env, payload={"target": target, "gate": result.gate, "passed": result.passed, "detail": result.detail},
            evidence=evidence))
    return appended


def gate_error(results: Sequence[GateResult]) -> Refused:
    bad_integrity = [r for r in results if r.gate == "artifact_integrity" and not r.passed]
    if bad_integrity:
        others = [r for r in results if not r.passed and r.gate != "artifact_integrity"]
        extra = f"; also: {summarize(others)}" if others else ""
        return IntegrityError(bad_integrity[0].detail + extra)
    return GateFailed(summarize(results), tuple(results))


def promotion_evidence(results: Sequence[GateResult], ctx: PromotionContext, attached: Mapping) -> dict[str, Any]:
    """What the promotion event keeps: each gate's verdict, the approvers and reviewers."""
    reviews = [r for r in ctx.reviews if r.get("decision") == "approve"]
    out: dict[str, Any] = {
        "gates": [{"gate": r.gate, "detail": r.detail} for r in results],
        "approvers": sorted({a["actor"] for a in ctx.approvals}),
        "reviewers": sorted({r["actor"] for r in reviews}),
    }
    if attached:
        out["attached"] = dict(attached)
    return out
