"""A candidate a blocking check stopped, on the record: one signed `candidate.rejected` event.

The pipeline's blocking checks (`no_regression_vs_incumbent`, `suite_completed`, ...) stop a
candidate before it is registered. The attempt still belongs in the audit trail, but not as a
version: a rejected candidate holds no version number, no stage and no stored artifact copy,
so it cannot be promoted by mistake and gc has nothing of it to keep. The event names what
was judged (the tuple's digest and the digests of its parts), which check stopped it and why,
the scores, the incumbent it was compared with (its version and the score the registry holds
for it), and carries the eval report as its evidence. No projection table reads it; `audit
log`, `history NAME` and the Dagster timeline show it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry import events as ev
from llmreg.registry.canonical import canonical_json
from llmreg.registry.entry import EntrySpec, parse_entry
from llmreg.registry.errors import BadInput
from llmreg.registry.eval_reports import normalise_eval_report, target_mismatches
from llmreg.registry.events import Event
from llmreg.registry.fields import as_str, as_token
from llmreg.registry.handlers.guard import Deps, authorize, check_actor
from llmreg.registry.queries import Queries
from llmreg.registry.store.port import UnitOfWork


@dataclass(frozen=True)
class RejectCandidate:
    spec: EntrySpec
    actor: str
    check: str
    detail: str
    report: Mapping[str, Any]  # as given: the evidence
    scores: Mapping[str, Any]  # its EvalRef form (suite, score, segments, run, ...)
    incumbent: str | None = None  # the version it was compared with
    context: Mapping[str, Any] = field(default_factory=dict)  # the check's settings, e.g. {"tolerance": 0.01}


def summary(spec: EntrySpec) -> dict[str, Any]:
    """What identifies the judged tuple: its digest and the digests of its parts."""
    lineage = spec.lineage or {}
    out: dict[str, Any] = {
        "digest": spec.digest,
        "model": {k: v for k, v in {"id": spec.model.id, "snapshot": spec.model.snapshot,
                                    "revision": spec.model.revision, "sha256": spec.model.sha256}.items()
                  if v is not None},
        "artifacts": {a.name: a.sha256 for a in spec.artifacts},
        "datasets": dict(spec.datasets),
        "prompt_sha256": spec.prompt_sha256,
        "lineage": {k: lineage[k] for k in ("git_commit", "training_run", "pipeline", "dvc_lock_sha256")
                    if lineage.get(k) is not None},
    }
    return {k: v for k, v in out.items() if v not in (None, {}, [])}


def reject_command(queries: Queries, spec: Any, *, check: Any, detail: Any, report: Mapping[str, Any],
                   actor: str, incumbent: str | None = None,
                   context: Mapping[str, Any] | None = None) -> RejectCandidate:
    """Validate before any transaction: the spec parses as an entry, the report is an eval of
    it (its `target` digests are the candidate's), the incumbent is a stored version."""
    actor = check_actor(actor)
    parsed, _ = parse_entry(spec)
    check = as_token(check, "check")
    detail = as_str(detail, "detail", max_len=2000)
    scores = normalise_eval_report(report)
    mismatches = target_mismatches(parsed, report)
    if mismatches:
        raise BadInput(f"report: it did not evaluate this candidate: {'; '.join(mismatches)}; pass the report "
                       "of the run that judged it", field="report.target")
    if incumbent is not None:
        queries.entry(parsed.name, incumbent)  # NotFound names the version
    context = dict(context or {})
    canonical_json(context)  # refuses NaN and non-JSON values up front
    return RejectCandidate(parsed, actor, check, detail, dict(report), scores, incumbent, context)


def reject_candidate(cmd: RejectCandidate, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Needs `record_eval` (what recording the eval of a registered version needs)."""
    name = cmd.spec.name
    authorize(uow, deps, cmd.actor, "record_eval", name=name)
    payload: dict[str, Any] = {"candidate": summary(cmd.spec), "check": cmd.check, "detail": cmd.detail,
                               "scores": dict(cmd.scores)}
    if cmd.context:
        payload["context"] = dict(cmd.context)
    if cmd.incumbent is not None:
        held = deps.entry(uow, name, cmd.incumbent)
        payload["incumbent"] = {
            "version": cmd.incumbent,
            "score": held.spec.eval.score if held.spec.eval else None,
            "suite": held.spec.eval.suite if held.spec.eval else None,
            "stages": {env: status for env, (status, _) in sorted(uow.states_of_version(name, cmd.incumbent).items())},
        }
    return [uow.append(ev.CANDIDATE_REJECTED, actor=cmd.actor, name=name, payload=payload,
                       evidence={"report": dict(cmd.report)})]
