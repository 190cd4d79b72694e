"""Human sign-off: a review of the eval results (canary) and approvals (production)."""
from __future__ import annotations

from dataclasses import dataclass

from llmreg.registry import events as ev
from llmreg.registry.entry import Entry
from llmreg.registry.errors import BadInput, Conflict, NotFound, Refused
from llmreg.registry.events import Event
from llmreg.registry.fields import as_str
from llmreg.registry.handlers.guard import Deps, authorize, check_actor, refuse
from llmreg.registry.lifecycle import REVIEW_DECISIONS
from llmreg.registry.queries import Queries
from llmreg.registry.resolve import check_env
from llmreg.registry.store.port import UnitOfWork


@dataclass(frozen=True)
class Review:
    entry: Entry
    env: str
    actor: str
    decision: str
    notes: str


@dataclass(frozen=True)
class Approval:
    """A sign-off to grant (approve) or to take back (withdraw_approval)."""

    entry: Entry
    env: str
    actor: str
    stage: str = "production"


def review_command(queries: Queries, name: str, version: str, env: str, *, actor: str, decision: str,
                   notes: str) -> Review:
    actor, env = check_actor(actor), check_env(env)
    if decision not in REVIEW_DECISIONS:
        raise BadInput(f"decision: {decision!r} is not one of {', '.join(REVIEW_DECISIONS)}", field="decision")
    notes = as_str(notes, "notes", optional=True, max_len=5000, allow_control=True) or "" if notes else ""
    return Review(queries.entry(name, version), env, actor, decision, notes)


def approval_command(queries: Queries, name: str, version: str, stage: str, env: str, *, actor: str) -> Approval:
    actor, env = check_actor(actor), check_env(env)
    check_approval_stage(name, version, stage, env)
    return Approval(queries.entry(name, version), env, actor, stage)


def check_approval_stage(name: str, version: str, stage: str, env: str) -> str:
    if stage == "canary":
        raise BadInput(f"stage: canary is approved by a review of the eval results; run "
                       f"`llmreg review {name}@{version} --env {env}` instead", field="stage")
    if stage != "production":
        raise BadInput(f"stage: approvals are collected for production (got {stage!r}); staging needs an eval "
                       "above threshold, canary a review", field="stage")
    return stage


def review(cmd: Review, uow: UnitOfWork, deps: Deps) -> list[Event]:
    entry, actor, env = cmd.entry, cmd.actor, cmd.env
    authorize(uow, deps, actor, "approve:canary", name=entry.name, version=entry.version, env=env)
    if actor == entry.author and cmd.decision != "comment":
        refuse(uow, Refused(f"{actor} is the author of {entry.ref}; authors cannot review their own "
                            "release, ask another reviewer"),
               actor=actor, action="approve:canary", name=entry.name, version=entry.version, env=env)
    return [uow.append(ev.REVIEW_RECORDED, actor=actor, name=entry.name, version=entry.version, env=env,
                       payload={"decision": cmd.decision, "notes": cmd.notes})]


def approve(cmd: Approval, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Sign off for production; the name's approval policy says how many and whether the
    author may count (by default: two distinct non-authors)."""
    from llmreg.registry.handlers.policy import approval_rule, stated

    entry, actor, env, stage = cmd.entry, cmd.actor, cmd.env, cmd.stage
    name, version = entry.name, entry.version
    gates = authorize(uow, deps, actor, "approve:production", name=name, version=version, env=env)
    rule, source = approval_rule(uow, name, gates)
    if actor == entry.author and not rule.author_may_approve:
        refuse(uow, Refused(f"{actor} is the author of {entry.ref}; production needs approvers other than the "
                            f"author, ask someone else (policy: {stated(rule, source)})"),
               actor=actor, action="approve:production", name=name, version=version, env=env)
    if any(a["actor"] == actor for a in uow.approvals(name, version, env, stage=stage)):
        raise Conflict(f"{actor} already approved {entry.ref} for {stage} in {env}; one approval per person")
    return [uow.append(ev.APPROVAL_GRANTED, actor=actor, name=name, version=version, env=env,
                       payload={"stage": stage})]


def withdraw_approval(cmd: Approval, uow: UnitOfWork, deps: Deps) -> list[Event]:
    entry, actor, env, stage = cmd.entry, cmd.actor, cmd.env, cmd.stage
    name, version = entry.name, entry.version
    authorize(uow, deps, actor, "approve:production", name=name, version=version, env=env)
    if not any(a["actor"] == actor for a in uow.approvals(name, version, env, stage=stage)):
        raise NotFound(f"{actor} has no approval of {entry.ref} for {stage} in {env} to withdraw")
    return [uow.append(ev.APPROVAL_WITHDRAWN, actor=actor, name=name, version=version, env=env,
                       payload={"stage": stage})]
