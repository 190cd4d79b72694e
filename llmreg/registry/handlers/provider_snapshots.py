"""Provider snapshots: what a provider's model list shows, and each snapshot's qualification.

State comes from the provider_snapshots / provider_discovery projection (one row per
snapshot or provider, kept in the transaction of its event), never from a fold of the log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry import events as ev
from llmreg.registry import providers as pv
from llmreg.registry.entry import EntrySpec
from llmreg.registry.errors import Refused
from llmreg.registry.events import Event
from llmreg.registry.handlers.guard import Deps, authorize, refuse
from llmreg.registry.handlers.register import Register, register_in
from llmreg.registry.resolve import DEFAULT_ENV
from llmreg.registry.store.port import UnitOfWork


@dataclass(frozen=True)
class RecordDiscovery:
    provider: str
    actor: str
    wanted: Mapping[str, Mapping[str, Any]]  # {snapshot: validated `seen` payload} listed now
    families: frozenset[str] | None = None  # only these families' missing snapshots are delisted
    base_url: str | None = None


@dataclass(frozen=True)
class RecordProviderFailure:
    actor: str
    payload: Mapping[str, Any]  # a validated provider.discovery payload with ok false


@dataclass(frozen=True)
class RecordSnapshot:
    actor: str
    payload: Mapping[str, Any]  # a validated provider.snapshot payload
    action: str  # the role action it needs: record_evidence or record_eval
    evidence: Mapping[str, Any] = field(default_factory=dict)  # {"report": ...}
    drafts: tuple[EntrySpec, ...] = ()  # registered (major bump) with the verdict
    normalised: Mapping[str, Any] | None = None  # the report's EvalRef form, recorded on each draft


def record_discovery(cmd: RecordDiscovery, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """New snapshots are `seen`, returning ones `relisted`, changed dates `deprecated`; recorded
    ones no longer listed are `delisted`; a recovered provider gets `provider.discovery` ok.
    Already-recorded state appends nothing."""
    provider, actor, wanted = cmd.provider, cmd.actor, cmd.wanted
    authorize(uow, deps, actor, "record_evidence", name=None)
    records = uow.provider_records(provider)
    appended: list[Event] = []

    def add(payload: Mapping[str, Any]) -> None:
        appended.append(uow.append(ev.PROVIDER_SNAPSHOT, actor=actor, payload=payload))

    for snapshot in sorted(wanted, key=pv.natural_key):  # one discovery: dated ids in date order
        payload = wanted[snapshot]
        record = records.get(pv.snapshot_key(provider, snapshot))
        if record is None:
            add(payload)
            continue
        if not record.listed:
            add({"provider": provider, "snapshot": snapshot, "status": pv.RELISTED})
        dates = {k: payload[k] for k in ("deprecation_date", "shutdown_date")
                 if payload.get(k) and payload[k] != getattr(record, k)}
        if dates:
            add({"provider": provider, "snapshot": snapshot, "status": pv.DEPRECATED, **dates})
    for record in records.values():
        if record.listed and record.snapshot not in wanted and (cmd.families is None or record.family in cmd.families):
            add({"provider": provider, "snapshot": record.snapshot, "status": pv.DELISTED})
    last = uow.discovery_records().get(provider)
    if last is not None and not last.ok:
        appended.append(uow.append(pv.PROVIDER_DISCOVERY, actor=actor, payload=pv.discovery_payload(
            provider, True, base_url=cmd.base_url, listed=len(wanted))))
    return appended


def record_provider_failure(cmd: RecordProviderFailure, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Recorded when it is news (first failure, or a different error); nothing otherwise."""
    authorize(uow, deps, cmd.actor, "record_evidence", name=None)
    last = uow.discovery_records().get(cmd.payload["provider"])
    if last is not None and not last.ok and last.error == cmd.payload["error"]:
        return []
    return [uow.append(pv.PROVIDER_DISCOVERY, actor=cmd.actor, payload=cmd.payload)]


def record_snapshot(cmd: RecordSnapshot, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """One step of a snapshot's life; a qualified verdict's drafts are registered with it."""
    actor, payload = cmd.actor, cmd.payload
    authorize(uow, deps, actor, cmd.action, name=None)
    record = uow.provider_record(pv.snapshot_key(payload["provider"], payload["snapshot"]))
    try:
        pv.check_transition(record, payload)
    except Refused as exc:
        refuse(uow, exc, actor=actor, action=cmd.action, name=None, version=None, env=None)
    for spec in cmd.drafts:  # every check before the first append: a refusal commits only itself
        authorize(uow, deps, actor, "register", name=spec.name)
    final = dict(payload)
    events: list[Event] = []
    refs = []
    for spec in cmd.drafts:
        entry, registered = register_in(Register(spec, actor, bump="major", env=DEFAULT_ENV), uow, deps)
        events.extend(registered)
        events.append(uow.append(ev.EVAL_RECORDED, actor=actor, name=entry.name, version=entry.version,
                                 payload={"report": cmd.evidence["report"], "eval": cmd.normalised}))
        refs.append(entry.ref)
    if refs:
        final["drafts"] = refs
    events.append(uow.append(ev.PROVIDER_SNAPSHOT, actor=actor, payload=final, evidence=cmd.evidence))
    return events


# ---------------------------------------------------------------------- command builders (validation)

_MODEL_FIELDS = {"snapshot", "family", "deprecation_date", "shutdown_date", "info"}


def failure_command(provider: str, error: str, *, actor: str, base_url: str | None) -> RecordProviderFailure:
    from llmreg.registry.handlers.guard import check_actor

    actor = check_actor(actor)
    return RecordProviderFailure(actor, pv.discovery_payload(provider, False, error=error, base_url=base_url))


def discovery_command(provider: str, models: Any, *, actor: str, families: Any = None,
                      base_url: str | None = None) -> RecordDiscovery:
    from llmreg.registry.errors import BadInput
    from llmreg.registry.handlers.guard import check_actor

    actor = check_actor(actor)
    provider = pv.check_provider(provider)
    wanted: dict[str, dict[str, Any]] = {}
    for index, model in enumerate(models):
        if not isinstance(model, Mapping):
            raise BadInput(f"models[{index}]: expected a mapping {{snapshot, family, ...}}", field=f"models[{index}]")
        unknown = set(model) - _MODEL_FIELDS
        if unknown:
            raise BadInput(f"models[{index}].{sorted(unknown)[0]}: unknown field; allowed: snapshot, family, "
                           "deprecation_date, shutdown_date, info", field=f"models[{index}]")
        try:
            payload = pv.snapshot_payload(provider, model.get("snapshot"), pv.SEEN, **{
                k: v for k, v in model.items() if k != "snapshot"})
        except BadInput as exc:
            raise BadInput(f"models[{index}].{exc}", field=f"models[{index}].{exc.field}") from None
        wanted[payload["snapshot"]] = payload
    return RecordDiscovery(provider, actor, wanted, None if families is None else frozenset(str(f) for f in families),
                           base_url)


def snapshot_command(provider: str, snapshot: str, status: str, *, actor: str, report: Any,
                     drafts: Any, fields: Mapping[str, Any]) -> RecordSnapshot:
    """Validate one snapshot step; drafts (EntrySpecs or mappings) only with a qualified verdict."""
    from llmreg.registry.canonical import canonical_json
    from llmreg.registry.entry import parse_entry
    from llmreg.registry.errors import BadInput, Conflict
    from llmreg.registry.eval_reports import check_verdict, normalise_eval_report, target_mismatches
    from llmreg.registry.fields import freeze, thaw
    from llmreg.registry.handlers.guard import check_actor

    actor = check_actor(actor)
    payload = pv.snapshot_payload(provider, snapshot, status, **fields)
    evidence: dict[str, Any] = {}
    if report is not None:
        if not isinstance(report, Mapping):
            raise BadInput(f"report: expected a mapping (the eval report), got {type(report).__name__}",
                           field="report")
        evidence["report"] = thaw(freeze(dict(report), "report"))
        canonical_json(evidence)
    specs: list[EntrySpec] = []
    normalised = None
    if drafts:
        if status != pv.QUALIFIED:
            raise BadInput(f"drafts: only a qualified snapshot drafts entries (status is {status})", field="drafts")
        if report is None:
            raise BadInput("report: a draft needs the qualifying eval report as its evidence", field="report")
        normalised = normalise_eval_report(report)
        check_verdict(report)
        for index, draft in enumerate(drafts):
            spec = draft if isinstance(draft, EntrySpec) else parse_entry(draft)[0]
            if spec.model.request_id != payload["snapshot"]:
                raise BadInput(f"drafts[{index}].model: the draft pins {spec.model.request_id!r}, not the "
                               f"qualified snapshot {payload['snapshot']!r}", field=f"drafts[{index}].model")
            mismatches = target_mismatches(spec, report)
            if mismatches:
                raise Conflict(f"drafts[{index}]: the qualifying report did not evaluate this draft: "
                               f"{'; '.join(mismatches)}")
            specs.append(spec)
    action = "record_evidence" if status in (pv.SEEN,) + pv.NOTES else "record_eval"
    return RecordSnapshot(actor, payload, action, evidence, tuple(specs), normalised)
