"""Records the gates read: eval results, gate evidence, gate failures, eval suites."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry import events as ev
from llmreg.registry.canonical import canonical_json
from llmreg.registry.entry import Entry
from llmreg.registry.errors import BadInput, Conflict
from llmreg.registry.eval_reports import check_verdict, normalise_eval_report, target_mismatches
from llmreg.registry.events import Event
from llmreg.registry.fields import as_number, as_str, as_token
from llmreg.registry.gate_evidence import normalise_evidence
from llmreg.registry.gates_config import suite_fairness_max_gap
from llmreg.registry.handlers.guard import Deps, authorize, check_actor, refuse
from llmreg.registry.lifecycle import EVIDENCE_CANARY_SLO, check_target
from llmreg.registry.queries import Queries
from llmreg.registry.resolve import check_env
from llmreg.registry.store.port import UnitOfWork


@dataclass(frozen=True)
class RecordEval:
    entry: Entry
    actor: str
    report: Mapping[str, Any]  # as given
    normalised: Mapping[str, Any]  # its EvalRef form
    mismatches: tuple[str, ...] = ()  # target digests that are not this version's


@dataclass(frozen=True)
class RecordEvidence:
    name: str
    version: str
    env: str
    actor: str
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class RecordGateFailure:
    name: str
    version: str
    env: str
    actor: str
    stage: str
    gate: str
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisterSuite:
    name: str
    version: str
    actor: str
    threshold: float | None
    definition: Mapping[str, Any]


def eval_command(queries: Queries, name: str, version: str, report: Mapping[str, Any], *,
                 actor: str) -> RecordEval:
    actor = check_actor(actor)
    entry = queries.entry(name, version)
    normalised = normalise_eval_report(report)
    check_verdict(report)
    return RecordEval(entry, actor, report, normalised, tuple(target_mismatches(entry.spec, report)))


def evidence_command(queries: Queries, name: str, version: str, env: str, kind: Any, data: Any, *,
                     actor: str) -> RecordEvidence:
    actor, env = check_actor(actor), check_env(env)
    kind, data = normalise_evidence(kind, data)
    queries.entry(name, version)  # NotFound before any transaction
    return RecordEvidence(name, version, env, actor, kind, data)


def gate_failure_command(queries: Queries, name: str, version: str, stage: str, env: str, *, actor: str,
                         detail: Any, evidence: Mapping[str, Any] | None, gate: str) -> RecordGateFailure:
    actor, env = check_actor(actor), check_env(env)
    check_target(stage)
    detail = as_str(detail, "detail", max_len=2000)
    queries.entry(name, version)
    return RecordGateFailure(name, version, env, actor, stage, gate, detail, dict(evidence or {}))


def suite_command(name: Any, version: Any, threshold: Any, definition: Mapping[str, Any] | None, *,
                  actor: str) -> RegisterSuite:
    actor = check_actor(actor)
    name = as_token(name, "suite")
    version = as_token(str(version) if isinstance(version, (int, float)) else version, "version", max_len=128)
    threshold = as_number(threshold, "threshold", lo=0.0, hi=1.0, optional=True)
    definition = dict(definition or {})
    canonical_json(definition)  # refuses NaN and non-JSON values up front
    suite_fairness_max_gap(definition, strict=True)  # the fairness gate reads it: refuse a bad bound now
    return RegisterSuite(name, version, actor, threshold, definition)


def looser_eval_threshold(reads: Any, gates: Any, normalised: Mapping[str, Any]) -> str | None:
    """The one-line reason when an eval report's own threshold is below the registry's floor (the
    registered suite's threshold, else gates.yaml), else None. The audit replays it."""
    threshold = normalised.get("threshold")
    if threshold is None:
        return None
    suite = normalised.get("suite")
    registered = reads.suite(suite, normalised.get("suite_version")) if suite else None
    if registered is not None and registered["threshold"] is not None:
        floor, source = float(registered["threshold"]), f"suite {registered['name']}@{registered['version']}"
    else:
        floor, source = gates.config_threshold(suite)
    if floor is None or float(threshold) >= floor:
        return None
    return (f"report.threshold: {float(threshold):g} is below the registry's floor {floor:g} ({source}); an eval "
            "report may only tighten the threshold: drop it or raise it")


def record_eval(cmd: RecordEval, uow: UnitOfWork, deps: Deps) -> list[Event]:
    entry, actor = cmd.entry, cmd.actor
    gates = authorize(uow, deps, actor, "record_eval", name=entry.name, version=entry.version)
    looser = looser_eval_threshold(uow, gates, cmd.normalised)
    if looser is not None:  # bad input: nothing is written
        raise BadInput(looser, field="report.threshold")
    if cmd.mismatches:
        run = cmd.normalised.get("run")
        refuse(uow, Conflict(f"eval {cmd.normalised['suite']} run {run} did not evaluate {entry.ref}: "
                             f"{'; '.join(cmd.mismatches)}; evaluate this version's artifacts and record "
                             "that report"),
               actor=actor, action="record_eval", name=entry.name, version=entry.version, env=None)
    return [uow.append(ev.EVAL_RECORDED, actor=actor, name=entry.name, version=entry.version,
                       payload={"report": dict(cmd.report), "eval": dict(cmd.normalised)})]


def evidence_action(kind: str) -> str:
    """canary_slo takes a canary to production: only `record_slo` (the SLO guard's key) records it."""
    return "record_slo" if kind == EVIDENCE_CANARY_SLO else "record_evidence"


def record_evidence(cmd: RecordEvidence, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, evidence_action(cmd.kind), name=cmd.name, version=cmd.version, env=cmd.env)
    return [uow.append(ev.EVIDENCE_RECORDED, actor=cmd.actor, name=cmd.name, version=cmd.version, env=cmd.env,
                       payload={"kind": cmd.kind, "data": cmd.data})]


def record_gate_failure(cmd: RecordGateFailure, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "record_eval", name=cmd.name, version=cmd.version, env=cmd.env)
    return [uow.append(ev.GATE_FAILED, actor=cmd.actor, name=cmd.name, version=cmd.version, env=cmd.env,
                       payload={"target": cmd.stage, "gate": cmd.gate, "passed": False, "detail": cmd.detail},
                       evidence=dict(cmd.evidence))]


def register_suite(cmd: RegisterSuite, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Suite versions are immutable: the same content again appends nothing, different content
    for a registered version is a Conflict."""
    authorize(uow, deps, cmd.actor, "configure", name=cmd.name, version=cmd.version)
    existing = uow.suite(cmd.name, cmd.version)
    if existing is not None:
        if (existing["threshold"] == cmd.threshold
                and existing["definition"] == json.loads(canonical_json(cmd.definition))):
            return []
        raise Conflict(f"suite {cmd.name}@{cmd.version} is already registered with different content; "
                       "suite versions are immutable, register a new version")
    return [uow.append(ev.SUITE_REGISTERED, actor=cmd.actor, name=cmd.name, version=cmd.version,
                       payload={"threshold": cmd.threshold, "definition": dict(cmd.definition)})]
