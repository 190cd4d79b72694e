"""Rollback drills: would `llmreg rollback NAME --env ENV` work right now? Nothing moves.

The target is the one the rollback itself would pick (handlers/stages.rollback_plan), so a
drill tests the real command, not a neighbour of it. The registry runs two checks itself:
`artifacts` (the target's copies were not collected by gc and re-hash to their recorded
digests, every copy) and `refs` (its prompt, tools, policy and retrieval refs are pinned and
its eval suite is registered). A caller above the core adds `backend_load` (the gateway
backend loading the target's model and adapter config without serving: llmreg/drill_checks.py)
and may add to `refs` (the prompt template found in the gateway's prompts directory).
Each drill is one `rollback.drill` event (payload: drill.DrillResult.to_event_data()); a
failed drill is recorded like a passed one, and the caller decides what a failure means.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping

from llmreg.registry import events as ev
from llmreg.registry.artifacts import ArtifactStore
from llmreg.registry.drill import DrillResult, run_drill
from llmreg.registry.entry import Entry
from llmreg.registry.errors import Refused
from llmreg.registry.events import Event
from llmreg.registry.handlers.gc import rollback_refusal
from llmreg.registry.handlers.guard import Deps, authorize, check_actor
from llmreg.registry.handlers.stages import rollback_plan
from llmreg.registry.integrity import artifact_gate
from llmreg.registry.queries import Queries
from llmreg.registry.resolve import check_env
from llmreg.registry.store.port import UnitOfWork

EntryCheck = Callable[[Entry], "tuple[bool, str]"]


@dataclass(frozen=True)
class RecordDrill:
    result: DrillResult
    actor: str


def artifacts_check(queries: Queries, artifacts: ArtifactStore, entry: Entry) -> tuple[bool, str]:
    refusal = rollback_refusal(queries, entry.name, entry.version)
    if refusal is not None:
        return False, refusal
    gate = artifact_gate(artifacts, entry)
    return gate.passed, gate.detail


def refs_check(queries: Queries, entry: Entry) -> tuple[bool, str]:
    """Every ref the tuple names is pinned (checked at registration, re-checked here in case an
    older entry predates a rule) and the eval suite it was certified by is registered."""
    from llmreg.registry.spec import check_ref

    spec, seen, problems = entry.spec, [], []
    refs = [(f, getattr(spec, f)) for f in ("prompt_ref", "tools_ref", "policy_ref")]
    refs += [(f"retrieval.{c}", v if isinstance(v, str) else v.get("ref")) for c, v in spec.retrieval.items()]
    for field, ref in refs:
        if not ref:
            continue
        try:
            check_ref(ref, field)
            seen.append(f"{field} {ref}")
        except Exception as exc:  # noqa: BLE001 - a drill reports, it does not stop
            problems.append(str(exc))
    if spec.eval is not None and spec.eval.suite_version is not None:
        if queries.store.suite(spec.eval.suite, spec.eval.suite_version) is None:
            problems.append(f"eval suite {spec.eval.suite}@{spec.eval.suite_version} is not registered "
                            f"(llmreg suite register)")
        else:
            seen.append(f"suite {spec.eval.suite}@{spec.eval.suite_version}")
    if problems:
        return False, "; ".join(problems)
    return True, ("pinned: " + ", ".join(seen)) if seen else "no refs to resolve"


def _both(first: EntryCheck, second: EntryCheck) -> EntryCheck:
    def check(entry: Entry) -> tuple[bool, str]:
        results = [first(entry), second(entry)]
        return all(ok for ok, _ in results), "; ".join(detail for _, detail in results)
    return check


def drill_command(queries: Queries, artifacts: ArtifactStore, name: str, env: str, *, actor: str,
                  checks: Mapping[str, EntryCheck] | None = None, now: datetime | None = None) -> RecordDrill:
    """Run the drill (slow: re-hashes, loads configs) before the transaction that records it."""
    actor, env = check_actor(actor), check_env(env)
    now = now or datetime.now(timezone.utc)
    row = queries.store.pointer(name, env, "production")
    if row is None:
        if not queries.store.versions(name):
            raise queries.not_found(name)
        raise Refused(f"{name}: nothing holds production in env {env!r}; nothing to drill")
    current = row[0]
    try:
        _, target = rollback_plan(queries.store, name, env, None)
    except Refused as exc:
        return RecordDrill(DrillResult(name, env, current, None, str(exc), (), now), actor)
    own: dict[str, EntryCheck] = {"artifacts": lambda e: artifacts_check(queries, artifacts, e),
                                  "refs": lambda e: refs_check(queries, e)}
    for key, check in (checks or {}).items():
        own[key] = _both(own[key], check) if key in own else check
    by_version = {key: (lambda version, c=check: c(queries.entry(name, version))) for key, check in own.items()}
    result = run_drill(name, env, (), current, checks=by_version, now=now, configured=target)
    reason = (f"what `llmreg rollback {name} --env {env}` restores: the newest version below {current} "
              f"that held production in {env}")
    return RecordDrill(dataclasses.replace(result, reason=reason), actor)


def record_drill(cmd: RecordDrill, uow: UnitOfWork, deps: Deps) -> list[Event]:
    result = cmd.result
    authorize(uow, deps, cmd.actor, "rollback", name=result.name, version=result.target, env=result.env)
    return [uow.append(ev.ROLLBACK_DRILL, actor=cmd.actor, name=result.name, version=result.target or result.current,
                       env=result.env, payload=result.to_event_data())]
