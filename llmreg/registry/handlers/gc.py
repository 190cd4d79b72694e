"""Retention: the policy (a `config.retention` event, like gates) and `gc`.

gc removes the artifact store's copies of versions outside retention (retention.plan_gc)
that hold no stage; it never removes or edits an event. What it removed is one
`artifacts.collected` event per name, written in the transaction that removes the copies
(the store's write lock orders it against other writers). A dry run writes nothing.
A digest another kept version references, of this name or any other, stays.

The plan is read before the transaction (every entry's pinned files: slow for a big
registry, and gc is maintenance); the handler re-checks that no version it collects took a
stage meanwhile.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from llmreg.registry import events as ev
from llmreg.registry.artifact_ingest import pinned_files
from llmreg.registry.artifacts import ArtifactStore
from llmreg.registry.documents import read_document
from llmreg.registry.errors import Conflict
from llmreg.registry.events import Event
from llmreg.registry.handlers.guard import Deps, authorize, check_actor, refuse
from llmreg.registry.queries import Queries
from llmreg.registry.retention import GcPlan, RetentionPolicy, StageSpan, plan_gc
from llmreg.registry.store.port import UnitOfWork

# ---------------------------------------------------------------------- the policy

@dataclass(frozen=True)
class ConfigureRetention:
    policy: RetentionPolicy
    actor: str


def retention_command(policy: Any, *, actor: str) -> ConfigureRetention:
    """policy: a RetentionPolicy, a mapping {default: {...}, names: {NAME: {...}}} or a YAML/JSON path."""
    actor = check_actor(actor)
    if isinstance(policy, RetentionPolicy):
        return ConfigureRetention(policy, actor)
    if isinstance(policy, (str, os.PathLike)):
        return ConfigureRetention(RetentionPolicy.from_dict(read_document(policy, "retention"),
                                                            source=os.fspath(policy)), actor)
    return ConfigureRetention(RetentionPolicy.from_dict(policy), actor)


def configure_retention(cmd: ConfigureRetention, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    return [uow.append(ev.CONFIG_RETENTION, actor=cmd.actor, payload={"retention": cmd.policy.to_dict()})]


def current_policy(queries: Queries) -> RetentionPolicy:
    """The last configured policy, else the defaults (retention.RetentionRule)."""
    found = queries.events(types=(ev.CONFIG_RETENTION,), newest_first=True, limit=1)
    return RetentionPolicy.from_dict(found[0].payload["retention"]) if found else RetentionPolicy()


def collected_versions(queries: Queries, name: str | None = None) -> dict[str, dict[str, str]]:
    """{name: {version: policy text}} for every version an earlier gc collected."""
    out: dict[str, dict[str, str]] = {}
    for event in queries.events(name=name, types=(ev.ARTIFACTS_COLLECTED,)):
        text = str(event.payload.get("policy_text") or event.payload.get("policy_source") or "retention policy")
        for version in event.payload.get("removed_versions") or ():
            out.setdefault(str(event.name), {})[str(version)] = f"{text}; gc event #{event.seq}"
    return out


# ---------------------------------------------------------------------- stage history

def history_spans(rows: Iterable[tuple]) -> list[StageSpan]:
    """The stretches each version held each stage, from the store's stage_history rows (env,
    stage, since, seq, version) in (env, stage, since, seq) order: a row opens its version's
    span and closes the previous holder's; a row without a version only closes. One indexed
    read per name instead of every stage event (archiving leaves no row: it holds nothing)."""
    spans: list[StageSpan] = []
    holding: dict[tuple[str, str], tuple[str, str]] = {}  # (env, stage) -> (version, since)
    for env, stage, since, _seq, version in rows:
        held = holding.pop((env, stage), None)
        if held is not None:
            spans.append(StageSpan.of((held[0], env, stage, held[1], since)))
        if version is not None:
            holding[(env, stage)] = (version, since)
    spans += [StageSpan.of((version, env, stage, since, None)) for (env, stage), (version, since) in holding.items()]
    return spans


def stage_spans(events: Iterable[Event]) -> list[StageSpan]:
    """The reference fold `history_spans` is checked against (tests/contract): the stretches
    each version held each stage, folded from stage events in seq order with
    the projection's transitions (store/projection.fold_stages): a stage event moves its
    version out of whatever it held; promoted/rolled back (production) take the stage from its
    holder; a pulled canary goes back to development; archived is a span that holds nothing."""
    open_: dict[tuple[str, str], tuple[str, str]] = {}  # (env, version) -> (stage, since)
    holder: dict[tuple[str, str], str] = {}  # (env, stage) -> version
    spans: list[StageSpan] = []

    def close(env: str, version: str, until: str) -> None:
        held = open_.pop((env, version), None)
        if held is not None:
            spans.append(StageSpan.of((version, env, held[0], held[1], until)))
            if holder.get((env, held[0])) == version:
                del holder[(env, held[0])]

    for event in events:
        if event.type not in ev.STAGE_TYPES or event.env is None or event.version is None:
            continue
        env, version, at, payload = event.env, event.version, event.time, event.payload
        close(env, version, at)
        if event.type == ev.STAGE_ARCHIVED:
            stage = "archived"
        elif event.type == ev.STAGE_ROLLED_BACK:
            if payload.get("stage", "production") == "canary":
                continue  # pulled: back to development
            stage = "production"
        else:
            stage = str(payload["stage"])
        if stage != "archived":
            other = holder.get((env, stage))
            if other is not None:
                close(env, other, at)
            holder[(env, stage)] = version
        open_[(env, version)] = (stage, at)
    spans += [StageSpan.of((version, env, stage, since, None)) for (env, version), (stage, since) in open_.items()]
    return spans


# ---------------------------------------------------------------------- gc

@dataclass(frozen=True)
class GcTarget:
    """One name's plan: the digests gc frees, those a kept version shares, earlier collections."""

    plan: GcPlan
    digests: tuple[str, ...]  # stored copies to remove (no kept version of any name references them)
    present: tuple[str, ...]  # of those, the ones the artifact store holds now
    shared: tuple[str, ...]  # referenced by a collected version and a kept one: they stay
    already: tuple[str, ...]  # versions an earlier gc collected

    @property
    def newly_collected(self) -> tuple[str, ...]:
        return tuple(v for v in self.plan.remove if v not in self.already)

    def to_dict(self) -> dict[str, Any]:
        return {**self.plan.to_event_data(self.present), "removed_versions": list(self.newly_collected),
                "already_collected": list(self.already), "shared_digests": list(self.shared),
                "policy_text": self.plan.policy_text()}


@dataclass(frozen=True)
class CollectGarbage:
    targets: tuple[GcTarget, ...]
    keep: frozenset[str]  # every digest a kept version references
    artifacts: ArtifactStore
    actor: str
    name: str | None


@dataclass(frozen=True)
class GcReport:
    """What a gc removed (or, dry run, would remove) per name, and the events it wrote."""

    dry_run: bool
    targets: tuple[GcTarget, ...]
    events: tuple[Event, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "names": [{**t.to_dict(), "dry_run": self.dry_run} for t in self.targets],
                "events": [e.to_dict() for e in self.events]}

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        lines = []
        for target in self.targets:
            plan = target.plan
            versions = ", ".join(target.newly_collected) or "no versions"
            lines.append(f"gc {plan.name}: {verb} {versions} ({len(target.present)} stored copies); "
                         f"kept {len(plan.kept)} version(s) under {plan.policy_text()}")
            for version, reasons in sorted(plan.kept.items()):
                lines.append(f"  keep {version}: {'; '.join(reasons)}")
        if not lines:
            lines.append("gc: the registry has no entries")
        if not self.dry_run:
            lines.append(f"{len(self.events)} artifacts.collected event(s) written" if self.events
                         else "nothing to collect; nothing written")
        return "\n".join(lines)


def gc_command(queries: Queries, artifacts: ArtifactStore, name: str | None, *, actor: str,
               now: datetime | None = None) -> CollectGarbage:
    """Plan gc for `name` (None: every name) under the configured policy."""
    actor = check_actor(actor)
    store = queries.store
    if name is not None and not store.versions(name):
        raise queries.not_found(name)
    now = now or datetime.now(timezone.utc)
    policy = current_policy(queries)
    collected = collected_versions(queries)
    digests_of: dict[str, dict[str, list[str]]] = {
        n: {v: [ref.sha256 for _, ref in pinned_files(queries.entry(n, v).spec)] for v in store.versions(n)}
        for n in store.names()}
    plans: dict[str, GcPlan] = {}
    for each in ([name] if name is not None else store.names()):
        registered = {e.version: e.time for e in queries.events(name=each, types=(ev.ENTRY_REGISTERED,))
                      if e.version}
        pinned = {p.version: f"holds {p.stage} in {p.env}" for p in store.pointers(each)}
        spans = history_spans(store.stage_history(each))
        plans[each] = plan_gc(policy, spans, now, name=each, registered=registered, pinned=pinned)
    keep = frozenset(d for n, versions in digests_of.items() for v, ds in versions.items()
                     if n not in plans or v not in plans[n].remove for d in ds)
    targets = []
    for each, plan in plans.items():
        gone = {d for v in plan.remove for d in digests_of[each].get(v, ())}
        free = tuple(sorted(gone - keep))
        targets.append(GcTarget(plan, free, tuple(d for d in free if artifacts.contains(d)),
                                tuple(sorted(gone & keep)),
                                tuple(v for v in plan.remove if v in collected.get(each, {}))))
    return CollectGarbage(tuple(targets), keep, artifacts, actor, name)


def collect(cmd: CollectGarbage, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Remove the planned copies and record, per name, what went."""
    authorize(uow, deps, cmd.actor, "archive", name=cmd.name)
    for target in cmd.targets:
        plan = target.plan
        moved = sorted({p.version for p in uow.pointers(plan.name)} & set(plan.remove))
        if moved:
            refuse(uow, Conflict(f"{plan.name}: {', '.join(moved)} took a stage while gc was planning; run gc "
                                 "again"), actor=cmd.actor, action="archive", name=plan.name, version=moved[0],
                   env=None)
    events = []
    for target in cmd.targets:
        removed, failed = [], []
        for digest in target.digests:
            try:
                if cmd.artifacts.remove(digest, keep=cmd.keep):
                    removed.append(digest)
            except OSError as exc:  # recorded, not raised: the copies already gone must be on the record
                failed.append({"sha256": digest, "error": " ".join(str(exc).split())[:200]})
        if not target.newly_collected and not removed and not failed:
            continue
        data = target.to_dict()
        data["removed_digests"] = sorted(removed)
        if failed:
            data["failed"] = failed
        events.append(uow.append(ev.ARTIFACTS_COLLECTED, actor=cmd.actor, name=target.plan.name, payload=data))
    return events


def rollback_refusal(queries: Queries, name: str, version: str | None) -> str | None:
    """Why a rollback to `version` is refused (its copies were collected), else None."""
    if version is None:
        return None
    from llmreg.registry.retention import refuse_collected

    text = collected_versions(queries, name).get(name, {}).get(version)
    return None if text is None else refuse_collected(version, text)

