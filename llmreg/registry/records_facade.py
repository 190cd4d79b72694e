"""The records part of the `Registry` facade: what the gates read and what they stopped.

    reg.record_eval("support-triage", "1.2.0", report, actor="ci")
    reg.record_gate_failure("support-triage", "1.2.0", "staging", actor="ci", detail="0.71 < 0.8")
    reg.reject_candidate(spec, check="no_regression_vs_incumbent", detail=why, report=report,
                         incumbent="1.1.0", actor="ci")

`Registry` (api.py) mixes this in; it provides `_run` and `queries`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from llmreg.registry.events import Event
from llmreg.registry.handlers import candidates, records
from llmreg.registry.resolve import DEFAULT_ENV

if TYPE_CHECKING:
    from llmreg.registry.queries import Queries


class RegistryRecords:
    """Evals, evidence, suites, gate failures, rejected candidates; mixed into `Registry`."""

    queries: "Queries"
    _run: Callable[..., Any]

    def record_eval(self, name: str, version: str, report: Mapping[str, Any], *, actor: str) -> Event:
        """Attach an eval result; a report whose `target` digests are not this version's is refused."""
        return self._run(records.record_eval, records.eval_command(self.queries, name, version, report,
                                                                   actor=actor))[-1]

    def register_suite(self, name: str, version: str, threshold: float | None,
                       definition: Mapping[str, Any] | None = None, *, actor: str) -> Event | None:
        """Register an eval suite version and its threshold; the same content again is None."""
        events = self._run(records.register_suite, records.suite_command(name, version, threshold, definition,
                                                                         actor=actor))
        return events[-1] if events else None

    def record_evidence(self, name: str, version: str, env: str, kind: str, data: Mapping[str, Any], *,
                        actor: str) -> Event:
        """Evidence for a gate, e.g. kind "canary_slo" {error_rate, p99_ms, calls[, eval_score]}."""
        cmd = records.evidence_command(self.queries, name, version, env, kind, data, actor=actor)
        return self._run(records.record_evidence, cmd)[-1]

    def record_gate_failure(self, name: str, version: str, stage: str, env: str = DEFAULT_ENV, *, actor: str,
                            detail: str, evidence: Mapping[str, Any] | None = None,
                            gate: str = "eval_threshold") -> Event:
        """Record a gate that failed outside a promotion (e.g. the eval sensor's verdict)."""
        cmd = records.gate_failure_command(self.queries, name, version, stage, env, actor=actor, detail=detail,
                                           evidence=evidence, gate=gate)
        return self._run(records.record_gate_failure, cmd)[-1]

    def reject_candidate(self, spec: Mapping[str, Any], *, check: str, detail: str, report: Mapping[str, Any],
                         actor: str, incumbent: str | None = None,
                         context: Mapping[str, Any] | None = None) -> Event:
        """Put a candidate a blocking check stopped on the record (no version is registered): one
        signed `candidate.rejected` event naming the tuple's digests, the check, why, the scores and
        the `incumbent` version it was compared with, the eval `report` as evidence. `context`: the
        check's settings (e.g. {"tolerance": 0.01}). Needs `record_eval`."""
        cmd = candidates.reject_command(self.queries, spec, check=check, detail=detail, report=report, actor=actor,
                                        incumbent=incumbent, context=context)
        return self._run(candidates.reject_candidate, cmd)[-1]
