"""Drift after release: judge every production version against what certified it and record
each flag as a signed `version.flagged` event.

The caller measures (`observe(entry, env, rule) -> drift.Observed`): a fresh run of the
version's suite (the provider re-evaluation machinery) and/or the gateway's call log over the
rule's window (llmreg/drift_checks.py); this module is pure of both. The baseline is the eval
the version was certified with (its newest registered eval, else the entry's own) and the
suite's tolerance (the registered suite definition's `tolerance`, else DEFAULT_SCORE_TOLERANCE).
A rule that sets no error-rate or p99 bound takes the canary SLO bounds the production gate
used (gates.yaml, tightened by the entry's gates).

Nothing moves here: a flag is a record for a human (or a webhook) to act on. Only a name whose
drift rule says `action: rollback` is rolled back, by the facade, after the flag commits.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from llmreg.registry import events as ev
from llmreg.registry.drift import Baseline, DriftRule, DriftVerdict, Observed, judge
from llmreg.registry.entry import Entry
from llmreg.registry.events import Event
from llmreg.registry.gates_config import GatesConfig
from llmreg.registry.handlers.guard import Deps, authorize, check_actor
from llmreg.registry.handlers.policy import drift_policy
from llmreg.registry.queries import Queries
from llmreg.registry.store.port import UnitOfWork

ACTOR = "system:drift-monitor"
DEFAULT_SCORE_TOLERANCE = 0.02  # a suite definition without `tolerance`: a 2-point drop flags

Observe = Callable[[Entry, str, DriftRule], Observed]


@dataclass(frozen=True)
class DriftFinding:
    """One production holder's check: what it was certified with, what was measured, the verdict."""

    name: str
    env: str
    version: str
    rule: DriftRule
    rule_source: str
    baseline: Baseline
    observed: Observed
    verdict: DriftVerdict

    def to_dict(self) -> dict[str, Any]:
        data = self.verdict.to_event_data(self.name, self.version, self.env)
        data.update(flagged=self.verdict.flagged, rule=self.rule.to_dict(), rule_source=self.rule_source,
                    baseline=dataclasses.asdict(self.baseline), observed=dataclasses.asdict(self.observed))
        return data

    def summary(self) -> str:
        return f"{self.name}@{self.version} in {self.env}: {self.verdict.summary()} ({self.rule_source})"


@dataclass(frozen=True)
class RecordDrift:
    findings: tuple[DriftFinding, ...]
    actor: str


def baseline_of(queries: Queries, entry: Entry) -> Baseline:
    """The score the version was certified with and its suite's tolerance."""
    records = queries.store.eval_records(entry.name, entry.version)
    newest = max(records, key=lambda r: r.get("seq", -1)) if records else None
    data = newest if newest is not None else (entry.spec.eval.to_dict() if entry.spec.eval is not None else {})
    score = data.get("score")
    suite = data.get("suite")
    tolerance = None
    if suite:
        found = queries.store.suite(suite, data.get("suite_version"))
        value = ((found or {}).get("definition") or {}).get("tolerance")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
            tolerance = float(value)
    ref = f"{suite}@{data.get('suite_version')}" if suite and data.get("suite_version") else suite
    return Baseline(score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
                    tolerance=DEFAULT_SCORE_TOLERANCE if tolerance is None else tolerance, suite=ref)


def effective_rule(rule: DriftRule, gates: GatesConfig, entry: Entry) -> DriftRule:
    """The rule with unset serving bounds taken from the canary SLO the production gate applied."""
    slo = gates.slo_bounds(entry.spec.gates)
    fill: dict[str, Any] = {}
    if rule.max_error_rate is None and slo.get("max_error_rate") is not None:
        fill["max_error_rate"] = float(slo["max_error_rate"])
    if rule.max_p99_ms is None and slo.get("max_p99_ms") is not None:
        fill["max_p99_ms"] = float(slo["max_p99_ms"])
    return dataclasses.replace(rule, **fill) if fill else rule


def check_drift(queries: Queries, observe: Observe, *, actor: str, name: str | None = None) -> RecordDrift:
    """Measure and judge every production holder (of `name`, or of every name)."""
    actor = check_actor(actor)
    if name is not None and not queries.store.versions(name):
        raise queries.not_found(name)
    policy = drift_policy(queries)
    gates = queries.current_config()[1]
    findings = []
    for pointer in sorted(queries.store.pointers(name), key=lambda p: (p.name, p.env)):
        if pointer.stage != "production":
            continue
        entry = queries.entry(pointer.name, pointer.version)
        rule, source = policy.rule_for(pointer.name)
        rule = effective_rule(rule, gates, entry)
        baseline = baseline_of(queries, entry)
        observed = observe(entry, pointer.env, rule)
        findings.append(DriftFinding(pointer.name, pointer.env, pointer.version, rule, source, baseline, observed,
                                     judge(rule, baseline, observed)))
    return RecordDrift(tuple(findings), actor)


def record_flags(cmd: RecordDrift, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """One `version.flagged` event per flagged holder that still holds production (a flag for a
    version rolled back meanwhile would point at the wrong release)."""
    events = []
    for finding in cmd.findings:
        if not finding.verdict.flagged:
            continue
        authorize(uow, deps, cmd.actor, "record_evidence", name=finding.name, version=finding.version,
                  env=finding.env)
        held = uow.pointer(finding.name, finding.env, "production")
        if held is None or held[0] != finding.version:
            continue
        data = finding.to_dict()
        events.append(uow.append(ev.VERSION_FLAGGED, actor=cmd.actor, name=finding.name, version=finding.version,
                                 env=finding.env, payload={k: data[k] for k in ("name", "version", "env", "action",
                                                                                 "reasons", "checked", "rule_source")},
                                 evidence={"rule": data["rule"], "baseline": data["baseline"],
                                           "observed": data["observed"]}))
    return events
