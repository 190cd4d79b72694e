"""Moving versions between stages: promote, archive, roll production back, pull a canary."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry import events as ev
from llmreg.registry.artifacts import ArtifactStore
from llmreg.registry.entry import Entry
from llmreg.registry.errors import BadInput, Conflict, IntegrityError, NotFound, Refused
from llmreg.registry.events import Event
from llmreg.registry.fields import as_number, as_str
from llmreg.registry.gate_evidence import split_promotion_evidence
from llmreg.registry.handlers.gc import rollback_refusal
from llmreg.registry.handlers.guard import (
    Deps, authorize, check_actor, gate_error, promotion_context, promotion_evidence, record_gates, refuse,
)
from llmreg.registry.integrity import artifact_gate
from llmreg.registry.queries import Queries
from llmreg.registry.resolve import check_env
from llmreg.registry.semver import parse_version
from llmreg.registry.handlers.register import DEFAULT_CANARY_WEIGHT
from llmreg.registry.lifecycle import EVIDENCE_CANARY_SLO, GateResult, check_promotion, check_target, rollback_target
from llmreg.registry.semver import version_key
from llmreg.registry.store.port import CommitThenRaise, Reads, UnitOfWork


@dataclass(frozen=True)
class Promote:
    entry: Entry
    stage: str
    env: str
    actor: str
    expect: str | None  # the holder the caller saw; another holder now is a lost race
    weight: float | None = None
    attached: Mapping[str, Any] = field(default_factory=dict)
    gate_evidence: tuple[str, dict] | None = None  # recorded before the gates judge it
    integrity: GateResult | None = None  # artifact re-hash, done before the transaction


@dataclass(frozen=True)
class Archive:
    entry: Entry
    env: str
    actor: str
    attached: Mapping[str, Any] = field(default_factory=dict)
    gate_evidence: tuple[str, dict] | None = None


@dataclass(frozen=True)
class Rollback:
    name: str
    env: str
    actor: str
    to: str | None
    reason: str
    planned: tuple[str | None, str | None]  # (current, target) as seen before the transaction
    plan_error: Refused | None
    integrity: GateResult | None
    attached: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PullCanary:
    name: str
    env: str
    actor: str
    observed: str | None  # the canary holder the caller saw
    reason: str
    attached: Mapping[str, Any] = field(default_factory=dict)


def canary_weight(stage: str, weight: Any) -> float | None:
    if weight is not None:
        if stage != "canary":
            raise BadInput(f"weight: only a canary takes a traffic weight (not {stage})", field="weight")
        weight = as_number(weight, "weight", lo=0.0, hi=1.0)
        if weight <= 0.0:
            raise BadInput("weight: a canary needs a traffic share above 0 (e.g. 0.05)", field="weight")
        return weight
    return DEFAULT_CANARY_WEIGHT if stage == "canary" else None


UNSET: Any = object()


def _reason(reason: Any) -> str:
    return as_str(reason, "reason", optional=True, max_len=2000) or "" if reason else ""


def promote_command(queries: Queries, artifacts: ArtifactStore, name: str, version: str, stage: str, env: str, *,
                    actor: str, evidence: Any, weight: Any, expect: Any = UNSET) -> Promote:
    """Validated input, the holder the caller saw, and the artifact re-hash (slow I/O, so
    before the transaction) for canary and production."""
    actor, env = check_actor(actor), check_env(env)
    if stage == "archived":
        raise BadInput(f"stage: archiving is not a promotion; call archive({name!r}, {version!r}) "
                       "(CLI: llmreg archive)", field="stage")
    check_target(stage)
    weight = canary_weight(stage, weight)
    attached, gate_evidence = split_promotion_evidence(evidence)
    entry = queries.entry(name, version)
    if expect is UNSET:
        row = queries.store.pointer(name, env, stage)
        expect = row[0] if row else None
    gate = artifact_gate(artifacts, entry) if stage in ("canary", "production") else None
    return Promote(entry, stage, env, actor, expect, weight, attached, gate_evidence, gate)


def archive_command(queries: Queries, name: str, version: str, env: str, *, actor: str, evidence: Any) -> Archive:
    actor, env = check_actor(actor), check_env(env)
    attached, gate_evidence = split_promotion_evidence(evidence)
    return Archive(queries.entry(name, version), env, actor, attached, gate_evidence)


def rollback_command(queries: Queries, artifacts: ArtifactStore, name: str, env: str, *, actor: str,
                     to: str | None, reason: Any, evidence: Any) -> Rollback:
    """The plan as seen now (re-checked in the transaction) and the target's artifact re-hash."""
    actor, env = check_actor(actor), check_env(env)
    reason = _reason(reason)
    attached, _ = split_promotion_evidence(evidence)
    if to is not None:
        parse_version(to, "to")
    planned: tuple[str | None, str | None] = (None, None)
    plan_error, gate = None, None
    try:
        planned = rollback_plan(queries.store, name, env, to)
    except NotFound:
        raise queries.not_found(name) from None
    except Refused as exc:
        plan_error = exc
    collected = rollback_refusal(queries, name, planned[1]) if plan_error is None else None
    if collected is not None:  # gc removed its stored copies (handlers/gc.py)
        plan_error = Refused(f"{name}: rollback to {collected}")
    elif planned[1] is not None:
        gate = artifact_gate(artifacts, queries.entry(name, planned[1]))
    return Rollback(name, env, actor, to, reason, planned, plan_error, gate, attached)


def pull_canary_command(queries: Queries, name: str, env: str, *, actor: str, reason: Any,
                        evidence: Any) -> PullCanary:
    actor, env = check_actor(actor), check_env(env)
    reason = _reason(reason)
    attached, _ = split_promotion_evidence(evidence)
    row = queries.store.pointer(name, env, "canary")
    if row is None and not queries.store.versions(name):
        raise queries.not_found(name)
    return PullCanary(name, env, actor, row[0] if row else None, reason, attached)


def promote(cmd: Promote, uow: UnitOfWork, deps: Deps) -> list[Event]:
    entry, stage, env, actor = cmd.entry, cmd.stage, cmd.env, cmd.actor
    name, version = entry.name, entry.version
    action = f"promote:{stage}"
    check_target(stage)
    gates = authorize(uow, deps, actor, action, name=name, version=version, env=env)
    _authorize_evidence(cmd.gate_evidence, uow, deps, actor, name, version, env)
    row = uow.pointer(name, env, stage)
    holder = row[0] if row else None
    if holder != cmd.expect:
        refuse(uow, Conflict(
            f"{name}: {stage} in {env} changed from {cmd.expect or 'nothing'} to {holder or 'nothing'} while "
            f"promoting {version}; another promotion won the race, check `llmreg resolve {name} --env {env} "
            f"--stage {stage}` and retry"), actor=actor, action=action, name=name, version=version, env=env)
    events, results, ctx = _judge(cmd.gate_evidence, uow, entry, env, stage, actor, gates, cmd.attached,
                                  cmd.integrity)
    events.append(uow.append(ev.STAGE_PROMOTED, actor=actor, name=name, version=version, env=env,
                             payload={"stage": stage, "from": ctx.current_status, "displaced": holder,
                                      "weight": cmd.weight},
                             evidence=promotion_evidence(results, ctx, cmd.attached)))
    return events


def archive(cmd: Archive, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Archive a version in env: never the production holder (a replacement must hold production)."""
    entry, env, actor = cmd.entry, cmd.env, cmd.actor
    gates = authorize(uow, deps, actor, "archive", name=entry.name, version=entry.version, env=env)
    _authorize_evidence(cmd.gate_evidence, uow, deps, actor, entry.name, entry.version, env)
    events, results, ctx = _judge(cmd.gate_evidence, uow, entry, env, "archived", actor, gates, cmd.attached, None)
    events.append(uow.append(ev.STAGE_ARCHIVED, actor=actor, name=entry.name, version=entry.version, env=env,
                             payload={"from": ctx.current_status},
                             evidence=promotion_evidence(results, ctx, cmd.attached)))
    return events


def _authorize_evidence(gate_evidence, uow: UnitOfWork, deps: Deps, actor: str, name: str, version: str,
                        env: str) -> None:
    """canary_slo attached to a promotion needs `record_slo` like one recorded on its own (a
    promoter must not vouch for the canary's figures in the same breath)."""
    if gate_evidence is not None and gate_evidence[0] == EVIDENCE_CANARY_SLO:
        authorize(uow, deps, actor, "record_slo", name=name, version=version, env=env)


def _judge(gate_evidence, uow: UnitOfWork, entry: Entry, env: str, target: str, actor: str, gates,
           attached: Mapping, integrity: GateResult | None):
    """Run the gates; record each verdict (and passing gate evidence). A failure commits the
    verdicts and raises; else (events, results, context)."""
    name, version = entry.name, entry.version
    provisional: tuple = ()
    if gate_evidence is not None:
        provisional = ({"kind": gate_evidence[0], "data": gate_evidence[1], "actor": actor,
                        "seq": uow.next_seq},)
    ctx = promotion_context(uow, entry, env, target, actor, gates, provisional)
    results = list(check_promotion(ctx))
    if integrity is not None:
        results.append(integrity)
    failed = [r for r in results if not r.passed]
    events = []
    if not failed and gate_evidence is not None:
        events.append(uow.append(ev.EVIDENCE_RECORDED, actor=actor, name=name, version=version, env=env,
                                 payload={"kind": gate_evidence[0], "data": gate_evidence[1]}))
    events.extend(record_gates(uow, results, target, actor, name, version, env, attached))
    if failed:
        raise CommitThenRaise(gate_error(results))
    return events, results, ctx


def rollback_plan(reads: Reads, name: str, env: str, to: str | None) -> tuple[str | None, str | None]:
    """(current production holder, version to restore); Refused when there is none, NotFound
    for an unknown name."""
    row = reads.pointer(name, env, "production")
    if row is None:
        if not reads.versions(name):
            raise NotFound(f"no entry named {name!r}")
        raise Refused(f"{name}: nothing holds production in env {env!r}; nothing to roll back")
    current = row[0]
    held = [v for v, e, _, was in reads.states_of_name(name) if e == env and was]
    held.sort(key=version_key)
    if to is not None:
        return current, rollback_target(held, current, to)
    older = [v for v in held if version_key(v) < version_key(current)]
    try:
        return current, rollback_target(older, current)
    except Refused:
        raise Refused(f"{name}: no production version older than {current} in env {env!r} "
                      f"(held production: {', '.join(held) or 'none'}); pass --to VERSION") from None


def rollback(cmd: Rollback, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Put an earlier production version back in production, in one audited event."""
    name, env, actor, to = cmd.name, cmd.env, cmd.actor, cmd.to
    authorize(uow, deps, actor, "rollback", name=name, version=to, env=env)
    if cmd.plan_error is not None:
        refuse(uow, cmd.plan_error, actor=actor, action="rollback", name=name, version=to, env=env)
    try:
        now = rollback_plan(uow, name, env, to)
    except Refused as exc:
        refuse(uow, exc, actor=actor, action="rollback", name=name, version=to, env=env)
    current, target = cmd.planned
    if now != cmd.planned:
        refuse(uow, Conflict(f"{name}: production in {env} changed to {now[0]} while rolling back "
                             f"from {current}; check `llmreg resolve` and retry"),
               actor=actor, action="rollback", name=name, version=target, env=env)
    integrity = cmd.integrity
    assert integrity is not None and target is not None  # a plan without error has both
    if not integrity.passed:
        record_gates(uow, [integrity], "production", actor, name, target, env, cmd.attached)
        raise CommitThenRaise(IntegrityError(integrity.detail))
    kept = {"artifacts": integrity.evidence.get("artifacts", []), "artifact_integrity": integrity.detail}
    if cmd.attached:
        kept["attached"] = dict(cmd.attached)
    return [uow.append(ev.STAGE_ROLLED_BACK, actor=actor, name=name, version=target, env=env,
                       payload={"stage": "production", "from": current, "reason": cmd.reason}, evidence=kept)]


def pull_canary(cmd: PullCanary, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """The canary's version leaves the stage (back to development); nobody replaces it."""
    name, env, actor = cmd.name, cmd.env, cmd.actor
    authorize(uow, deps, actor, "rollback", name=name, version=cmd.observed, env=env)
    row = uow.pointer(name, env, "canary")
    holder = row[0] if row else None
    if holder is None:
        refuse(uow, Refused(f"{name}: nothing holds canary in env {env!r}; nothing to pull"),
               actor=actor, action="rollback", name=name, version=None, env=env)
    if holder != cmd.observed:
        refuse(uow, Conflict(f"{name}: canary in {env} changed from {cmd.observed} to {holder} while "
                             "pulling it; check and retry"),
               actor=actor, action="rollback", name=name, version=holder, env=env)
    return [uow.append(ev.STAGE_ROLLED_BACK, actor=actor, name=name, version=holder, env=env,
                       payload={"stage": "canary", "from": holder, "reason": cmd.reason},
                       evidence={"attached": dict(cmd.attached)} if cmd.attached else {})]
