"""Stages, transitions and the gate matrix, as pure functions on plain data.

development -> staging -> canary -> production -> archived, per environment.

  -> staging     transition, eval_threshold (score >= threshold, and the newest eval report passed
                 its own suite checks)
  -> canary      transition, review (a non-author approves, no open rejection), fairness
  -> production  transition, canary_slo (newest evidence within bounds), production_approvals
                 (the name's approval policy: by default N distinct approvers, none the author,
                 N >= 2; it may ask for more, and for approvers holding given roles)
  -> archived    transition (never the production holder: a replacement holds production
                 first), archive_checklist (only when gates.yaml lists items)

`check_promotion` evaluates every gate of the target (no short-circuit) so one refusal
lists everything still missing. The store records each result as an event.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import BadInput, Refused
from .fields import EMPTY, one_line, show, suggestion
from .gates_config import GatesConfig

TYPE_CHECKING = False  # the idiom that keeps `typing` out of run-time imports
if TYPE_CHECKING:
    from typing import Any

    from .spec import Entry


STAGES = ("development", "staging", "canary", "production", "archived")
PROMOTABLE = ("staging", "canary", "production", "archived")
# A version's status in one environment; "retired" = held production before, replaced since.
STATUSES = ("development", "staging", "canary", "production", "retired", "archived")
STATUS_ALIASES: Mapping[str, str] = {"draft": "development"}  # the seed's vocabulary
REQUIRED_STATUS: Mapping[str, tuple[str, ...]] = {
    "staging": ("development",),
    "canary": ("staging",),
    "production": ("canary",),
    "archived": ("retired", "development", "staging", "canary"),
}
GATES: Mapping[str, tuple[str, ...]] = {
    "staging": ("transition", "eval_threshold"),
    "canary": ("transition", "review", "fairness"),
    "production": ("transition", "canary_slo", "production_approvals"),
    "archived": ("transition", "archive_checklist"),
}
REVIEW_DECISIONS = ("approve", "reject", "comment")
EVIDENCE_CANARY_SLO = "canary_slo"
EVIDENCE_ARCHIVE_CHECKLIST = "archive_checklist"
_FLOAT_SLACK = 1e-9  # gaps are differences of floats: 0.3 - 0.2 must not exceed a 0.1 bound


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str
    passed: bool
    detail: str  # one line: what was measured against what, and the fix when failed
    evidence: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "passed": self.passed, "detail": self.detail, "evidence": dict(self.evidence)}


@dataclass(frozen=True, slots=True)
class PromotionContext:
    """Everything the gates look at; the store gathers it, the gates only read it.

    reviews:      ({actor, decision, notes, seq}, ...) for this version and env
    approvals:    ({actor, stage, seq}, ...) not withdrawn, for this version, env and target
    evidence:     ({kind, data, actor, seq}, ...) for this version and env
    eval_records: registered eval reports for this version ({suite, score, segments, run, seq,
                  passed?, failed_checks?, ...}: passed/failed_checks are the report's own verdict)
    suite_threshold / suite_fairness_max_gap: from the registered suite definition (`threshold`,
                  `fairness.max_gap`) of the eval being judged; suite_ref names it ("name@version")
    """

    entry: "Entry"
    env: str
    target: str
    actor: str
    current_status: str
    production_holder: str | None = None
    reviews: tuple[Mapping[str, Any], ...] = ()
    approvals: tuple[Mapping[str, Any], ...] = ()
    evidence: tuple[Mapping[str, Any], ...] = ()
    eval_records: tuple[Mapping[str, Any], ...] = ()
    suite_threshold: float | None = None
    gates: GatesConfig = field(default_factory=GatesConfig)
    suite_fairness_max_gap: float | None = None
    suite_ref: str | None = None
    # The approval policy in force for this name (approval_policy.ApprovalRule; None: the
    # registry default with gates.yaml's count) and the roles each approver held then.
    approval_rule: Any = None
    approval_source: str = ""
    member_roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: EMPTY)


def normalise_status(value: Any, field_name: str = "status") -> str:
    """A status as written in an imported history ('draft' -> 'development')."""
    if not isinstance(value, str):
        raise BadInput(f"{field_name}: {show(value)} is not a status; use one of {', '.join(STATUSES)}", field=field_name)
    status = STATUS_ALIASES.get(value.lower(), value.lower())
    if status not in STATUSES:
        raise BadInput(f"{field_name}: {value!r} is not a status; {suggestion(value, STATUSES + tuple(STATUS_ALIASES))}", field=field_name)
    return status


def check_target(target: Any) -> str:
    if target not in PROMOTABLE:
        hint = suggestion(str(target), PROMOTABLE).replace("known fields", "targets")
        raise BadInput(f"stage: {show(target)} is not a promotion target; {hint} (staging, canary, production, archived)", field="stage")
    return target


def rollback_target(production_history: Sequence[str], current: str | None, to: str | None = None) -> str:
    """Which version a rollback restores: `to` (it must have held production in this env) or the
    newest earlier production holder other than the current one."""
    if to is not None:
        if to == current:
            raise Refused(f"{to} already holds production; nothing to roll back")
        if to not in production_history:
            held = ", ".join(dict.fromkeys(production_history)) or "none"
            raise Refused(f"{to} never held production in this environment (held: {held}); roll back only to a former production version")
        return to
    for version in reversed(production_history):
        if version != current:
            return version
    raise Refused("no earlier production version to roll back to in this environment")


# ---------------------------------------------------------------------------- gate helpers


def _seq(record: Mapping[str, Any], position: int) -> tuple[int, int]:
    seq = record.get("seq")
    return (seq if isinstance(seq, int) and not isinstance(seq, bool) else -1, position)


def _newest(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if not records:
        return None
    return max(enumerate(records), key=lambda pair: _seq(pair[1], pair[0]))[1]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def current_eval(ctx: PromotionContext) -> tuple[dict[str, Any] | None, str]:
    """The eval the gates judge: the newest registered eval record, else the entry's own eval."""
    record = _newest(ctx.eval_records)
    if record is not None:
        report = record if "score" in record else record.get("report") or {}
        data = {key: report.get(key) for key in ("suite", "suite_version", "score", "segments", "run", "threshold",
                                                 "passed", "failed_checks")}
        where = f"eval record seq {record['seq']}" if "seq" in record else "eval record"
        return data, where
    if ctx.entry.spec.eval is not None:
        return ctx.entry.spec.eval.to_dict(), "entry eval"
    return None, ""


def _ref(ctx: PromotionContext) -> str:
    return f"{ctx.entry.ref} in {ctx.env}"


# Refusals name the command that fixes them, spelled exactly as llmreg/cli.py parses it.
def _cli_review(ctx: PromotionContext) -> str:
    return f"llmreg review {ctx.entry.ref} --env {ctx.env}"


# ---------------------------------------------------------------------------- the gates


def _gate_transition(ctx: PromotionContext) -> GateResult:
    current, target, version = ctx.current_status, ctx.target, ctx.entry.version
    evidence = {"from": current, "to": target, "production_holder": ctx.production_holder}
    if current == target:
        return GateResult("transition", False, f"{version} is already {target} in {ctx.env}; nothing to promote", evidence)
    if target == "archived":
        if current == "production" or ctx.production_holder == version:
            return GateResult("transition", False, f"{version} holds production in {ctx.env}; a replacement must hold production first, then archive it", evidence)
        if current == "retired" and ctx.production_holder is None:
            return GateResult("transition", False, f"nothing holds production in {ctx.env}; a replacement must hold production first, then archive {version}", evidence)
    allowed = REQUIRED_STATUS[target]
    if current not in allowed:
        if current == "retired":
            fix = f"it held production before; restore it with rollback, not promote (llmreg rollback {ctx.entry.name} --env {ctx.env} --to {version})"
        elif current == "archived":
            fix = "archived versions are kept for audit and rollback; register a new version instead"
        else:
            fix = (f"promote it to {allowed[0]} first (llmreg promote {ctx.entry.ref} --to {allowed[0]} --env {ctx.env})"
                   if allowed[0] != "development" else "it has moved past development already")
        return GateResult("transition", False, f"{target} needs the version in {' or '.join(allowed)}, but {version} is {current} in {ctx.env}; {fix}", evidence)
    return GateResult("transition", True, f"{current} -> {target} in {ctx.env}", evidence)


def _gate_eval_threshold(ctx: PromotionContext) -> GateResult:
    data, where = current_eval(ctx)
    if data is None:
        return GateResult("eval_threshold", False, f"no eval result for {ctx.entry.ref}; record one (llmreg eval record {ctx.entry.ref} REPORT.yaml) or add eval: to the entry", EMPTY)
    suite = data.get("suite") or "?"
    score = _number(data.get("score"))
    if score is None:
        return GateResult("eval_threshold", False, f"{where} has no numeric score ({show(data.get('score'))}); re-record the eval", {"suite": suite})
    threshold, source = resolve_threshold(ctx, suite, data.get("threshold"))
    evidence = {"suite": suite, "suite_version": data.get("suite_version"), "run": data.get("run"), "score": score, "threshold": threshold, "threshold_source": source, "eval_source": where}
    # The report's own verdict on its suite checks (fairness, safety, latency, cost, ...): a
    # report that failed them certifies nothing, whatever its score.
    failed_checks = [str(c) for c in data.get("failed_checks") or ()]
    report_failed = data.get("passed") is False or bool(failed_checks)
    if data.get("passed") is not None or failed_checks:
        evidence.update(report_passed=not report_failed, failed_checks=failed_checks)
    checks = f"the eval report failed its own suite checks: {', '.join(failed_checks) or 'unnamed'} ({where})"
    refix = f"fix them, re-run the eval and record it (llmreg eval record {ctx.entry.ref} REPORT.json)"
    if threshold is None:
        also = f"; also {checks}" if report_failed else ""
        return GateResult("eval_threshold", False, f"no eval threshold known for suite {suite}: set `threshold` in the suite YAML or `eval_threshold` in gates.yaml{also}", evidence)
    if score >= threshold:
        if report_failed:
            return GateResult("eval_threshold", False, f"{suite} score {score:g} >= threshold {threshold:g} ({source}), but {checks}; {refix}", evidence)
        return GateResult("eval_threshold", True, f"{suite} score {score:g} >= threshold {threshold:g} ({source}; {where})", evidence)
    also = f"; {checks}" if report_failed else ""
    return GateResult("eval_threshold", False, f"{suite} score {score:g} is below threshold {threshold:g} ({source}; {where}){also}; improve the tuple and register a new version", evidence)


def resolve_threshold(ctx: PromotionContext, suite: str | None, recorded: Any = None) -> tuple[float | None, str]:
    """(threshold, source): the registry's floor (the suite definition, else gates.yaml); the
    entry's gates and the eval's recorded threshold count only when stricter than it."""
    value: float | None
    if ctx.suite_threshold is not None:
        value, source = float(ctx.suite_threshold), f"suite {suite} definition"
    else:
        value, source = ctx.gates.config_threshold(suite)
    own = ctx.entry.spec.gates.get("eval_threshold")
    for candidate, where in ((own, "entry gates.eval_threshold"), (_number(recorded), "threshold recorded with the eval")):
        if candidate is not None and (value is None or float(candidate) > value):
            value, source = float(candidate), where
    return value, source


def _gate_review(ctx: PromotionContext) -> GateResult:
    author = ctx.entry.author
    latest: dict[str, tuple[str, Mapping[str, Any]]] = {}
    ordered = sorted(enumerate(ctx.reviews), key=lambda pair: _seq(pair[1], pair[0]))
    for _, review in ordered:
        actor, decision = review.get("actor"), review.get("decision")
        if decision in ("approve", "reject") and isinstance(actor, str):
            latest[actor] = (decision, review)  # a reviewer's newest decision replaces their older one
    approvers = sorted(actor for actor, (decision, _) in latest.items() if decision == "approve" and actor != author)
    rejecters = sorted(actor for actor, (decision, _) in latest.items() if decision == "reject")
    evidence = {"approved_by": approvers, "rejected_by": rejecters, "author": author}
    if rejecters:
        notes = latest[rejecters[0]][1].get("notes")
        said = f" ({one_line(str(notes))[:120]})" if notes else ""
        return GateResult("review", False, f"rejected by {', '.join(rejecters)}{said}; a rejection stands until that reviewer approves, or register a new version", evidence)
    if approvers:
        return GateResult("review", True, f"eval results reviewed and approved by {', '.join(approvers)}", evidence)
    if author in latest:
        return GateResult("review", False, f"the author ({author}) cannot review their own release; a reviewer other than {author} must approve ({_cli_review(ctx)})", evidence)
    return GateResult("review", False, f"no review yet; a reviewer other than the author ({author}) must approve the eval results ({_cli_review(ctx)})", evidence)


def _gate_fairness(ctx: PromotionContext) -> GateResult:
    data, where = current_eval(ctx)
    bound, source = ctx.gates.fairness_bound(ctx.entry.spec.gates, ctx.suite_fairness_max_gap, ctx.suite_ref)
    segments = (data or {}).get("segments") or {}
    scores = {str(k): _number(v) for k, v in segments.items()} if isinstance(segments, Mapping) else {}
    if any(v is None for v in scores.values()):
        bad = next(k for k, v in scores.items() if v is None)
        return GateResult("fairness", False, f"segment {bad!r} in {where} has no numeric score; re-record the eval", {"bound": bound})
    if len(scores) < 2:
        what = "no eval" if data is None else f"{where} has {len(scores)} segment score{'s' if len(scores) != 1 else ''}"
        return GateResult("fairness", False, f"cannot assess fairness: {what}; need scores for at least 2 segments (eval.segments) to compare against the gap bound {bound:g}", {"bound": bound, "bound_source": source})
    numeric = {k: v for k, v in scores.items() if v is not None}  # all of them, checked above
    low = min(numeric, key=numeric.__getitem__)
    high = max(numeric, key=numeric.__getitem__)
    gap = numeric[high] - numeric[low]
    evidence = {"gap": gap, "bound": bound, "bound_source": source, "min_segment": low, "max_segment": high, "segments": scores}
    text = f"segment gap {gap:.3f} ({low} {scores[low]:g} .. {high} {scores[high]:g})"
    if gap <= bound + _FLOAT_SLACK:
        return GateResult("fairness", True, f"{text} <= bound {bound:g} ({source})", evidence)
    return GateResult("fairness", False, f"{text} exceeds bound {bound:g} ({source}); improve the weakest segment or justify a new bound in gates", evidence)


def _gate_canary_slo(ctx: PromotionContext) -> GateResult:
    bounds = ctx.gates.slo_bounds(ctx.entry.spec.gates)
    records = [e for e in ctx.evidence if e.get("kind") == EVIDENCE_CANARY_SLO]
    newest = _newest(records)
    if newest is None:
        return GateResult("canary_slo", False, f"no canary_slo evidence for {_ref(ctx)}; record error_rate, p99_ms and calls from the canary (llmreg evidence {ctx.entry.ref} SLO.yaml --kind canary_slo --env {ctx.env})", {"bounds": bounds})
    data = newest.get("data") or {}
    seq = newest.get("seq")
    measured = {key: _number(data.get(key)) if isinstance(data, Mapping) else None for key in ("error_rate", "p99_ms", "calls", "eval_score")}
    checks = [
        ("error_rate", "max_error_rate", lambda v, b: v <= b, "error_rate {v:g} > {b:g}", "error_rate {v:g} <= {b:g}"),
        ("p99_ms", "max_p99_ms", lambda v, b: v <= b, "p99 {v:g}ms > {b:g}ms", "p99 {v:g}ms <= {b:g}ms"),
        ("calls", "min_calls", lambda v, b: v >= b, "only {v:g} calls < {b:g}", "{v:g} calls >= {b:g}"),
        ("eval_score", "min_eval_score", lambda v, b: v >= b, "eval_score {v:g} < {b:g}", "eval_score {v:g} >= {b:g}"),
    ]
    breaches, met = [], []
    for metric, bound_key, ok, bad_text, good_text in checks:
        bound = bounds.get(bound_key)
        if bound is None:
            continue
        value = measured[metric]
        if value is None:
            breaches.append(f"{metric} not reported")
        elif ok(value, bound):
            met.append(good_text.format(v=value, b=bound))
        else:
            breaches.append(bad_text.format(v=value, b=bound))
    evidence = {"measured": {k: v for k, v in measured.items() if v is not None}, "bounds": bounds, "evidence_seq": seq}
    where = f"evidence seq {seq}" if seq is not None else "newest evidence"
    if breaches:
        return GateResult("canary_slo", False, f"canary SLO not met: {'; '.join(breaches)} ({where}); fix and record new canary evidence", evidence)
    return GateResult("canary_slo", True, f"canary SLO met: {', '.join(met)} ({where})", evidence)


def _gate_production_approvals(ctx: PromotionContext) -> GateResult:
    from .approval_policy import ApprovalRule, evaluate

    author = ctx.entry.author
    rule = ctx.approval_rule or ApprovalRule(required=ctx.gates.required_production_approvals)
    source = ctx.approval_source or "registry default approval policy"
    roles = ctx.member_roles
    result = evaluate(rule, ctx.approvals, author, lambda actor: roles.get(actor, ()), source=source)
    needed, counted = rule.required, list(result.counted)
    evidence = {"approvers": counted, "required": needed, "author": author, "policy": result.policy,
                "roles": {r: list(a) for r, a in result.roles_filled.items()}}
    extra = f"; {'; '.join(result.notes)}" if result.notes else ""
    policy = f" (policy: {result.policy})"
    who = "distinct approvals" if rule.author_may_approve else "distinct non-author approvals"
    if result.ok:
        return GateResult("production_approvals", True, f"{len(counted)} of {needed} {who}: {', '.join(counted)}{extra}{policy}", evidence)
    have = ", ".join(counted) if counted else "none"
    missing = [f"need {needed - len(counted)} more from someone other than the author"] if len(counted) < needed else []
    missing += [f"need {n - len(result.roles_filled.get(role, ()))} more approver(s) holding {role}"
                for role, n in rule.required_roles.items() if len(result.roles_filled.get(role, ())) < n]
    return GateResult("production_approvals", False, f"{len(counted)} of {needed} distinct approvals for production (have: {have}){extra}; {'; '.join(missing)} (llmreg approve {ctx.entry.ref} --to production --env {ctx.env}){policy}", evidence)


def _gate_archive_checklist(ctx: PromotionContext) -> GateResult:
    # gates.yaml's items, then those the name's approval policy adds
    items = tuple(dict.fromkeys(ctx.gates.archive_checklist + tuple(getattr(ctx.approval_rule, "archive_checklist", ()))))
    if not items:
        return GateResult("archive_checklist", True, "no archival checklist configured in gates.yaml", {"items": []})
    from .approval_policy import check_archive_checklist  # an item is true or {done: true, by, at, notes}

    newest = _newest([e for e in ctx.evidence if e.get("kind") == EVIDENCE_ARCHIVE_CHECKLIST])
    checked = check_archive_checklist(items, (newest or {}).get("data"))
    open_items = list(checked.open)
    evidence = {"items": list(items), "done": list(checked.done)}
    if open_items:
        return GateResult("archive_checklist", False, f"archival checklist incomplete: {', '.join(open_items)} not done; record them as true in archive_checklist evidence (llmreg evidence {ctx.entry.ref} CHECKLIST.yaml --kind archive_checklist --env {ctx.env})", evidence)
    return GateResult("archive_checklist", True, f"archival checklist complete ({len(items)} items)", evidence)


_GATE_FUNCTIONS = {
    "transition": _gate_transition,
    "eval_threshold": _gate_eval_threshold,
    "review": _gate_review,
    "fairness": _gate_fairness,
    "canary_slo": _gate_canary_slo,
    "production_approvals": _gate_production_approvals,
    "archive_checklist": _gate_archive_checklist,
}


def check_promotion(ctx: PromotionContext) -> tuple[GateResult, ...]:
    """Every gate for ctx.target, all evaluated, in matrix order."""
    check_target(ctx.target)
    if ctx.current_status not in STATUSES:
        raise BadInput(f"current_status: {show(ctx.current_status)} is not one of {', '.join(STATUSES)}", field="current_status")
    return tuple(_GATE_FUNCTIONS[gate](ctx) for gate in GATES[ctx.target])


def passed(results: Sequence[GateResult]) -> bool:
    return all(result.passed for result in results)


def summarize(results: Sequence[GateResult]) -> str:
    """One line: which gates failed and why, or that all passed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return f"all {len(results)} gates passed: {', '.join(r.gate for r in results)}"
    listed = "; ".join(f"{r.gate}: {r.detail}" for r in failed)
    return one_line(f"{len(failed)} of {len(results)} gates failed: {listed}")
