"""The operations part of the `Registry` facade: retention and gc, rollback drills, the
approval and drift policies, drift checks.

    reg.configure_retention({"default": {"keep_production_days": 90}}, actor="admin")
    report = reg.gc(dry_run=True)            # a GcReport; a dry run writes nothing
    result = reg.drill("support-triage", "default", actor="system:rollback-drill")
    results = reg.drill_all(actor="system:rollback-drill", checks=drill_checks.gateway_checks(reg))
    reg.configure_approval_policy({"names": {"support-bot": {"required_roles": {"reviewer": 1}}}}, actor="admin")
    report = reg.drift_check(observe, actor="system:drift-monitor")   # observe: drift_checks.py

`Registry` (api.py) mixes this in; it provides `_run`, `queries`, `artifacts` and `store`.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

from llmreg.registry.drill import DrillResult
from llmreg.registry.events import Event
from llmreg.registry.handlers import drill as drills
from llmreg.registry.handlers import gc as retention
from llmreg.registry.handlers.drill import EntryCheck
from llmreg.registry.handlers.gc import GcReport
from llmreg.registry.retention import RetentionPolicy
from llmreg.registry.approval_policy import ApprovalPolicy
from llmreg.registry.drift import DriftPolicy
from llmreg.registry.handlers import drift as drift_checks
from llmreg.registry.handlers import policy as policies

if TYPE_CHECKING:
    from llmreg.registry.artifacts import ArtifactStore
    from llmreg.registry.queries import Queries
    from llmreg.registry.store.port import Store


class RegistryOps:
    """gc and drills; mixed into `Registry`."""

    store: "Store"
    artifacts: "ArtifactStore"
    queries: "Queries"
    _run: Callable[..., Any]
    rollback: Callable[..., Event]

    def configure_retention(self, policy: RetentionPolicy | Mapping[str, Any] | str | os.PathLike, *,
                            actor: str) -> Event:
        """Replace the retention policy (registry default + per-name rules that may only keep more);
        audited as config.retention. Needs `configure`."""
        return self._run(retention.configure_retention, retention.retention_command(policy, actor=actor))[-1]

    def retention(self) -> RetentionPolicy:
        """The policy in force (the defaults until one is configured)."""
        return retention.current_policy(self.queries)

    def gc(self, name: str | None = None, *, actor: str, dry_run: bool = False,
           now: datetime | None = None) -> GcReport:
        """Remove stored artifact copies of versions outside retention that hold no stage (every
        name, or one); never an event. Each name that lost something gets one audited
        `artifacts.collected` event. dry_run: the same report, nothing removed or written.
        Needs `archive`."""
        cmd = retention.gc_command(self.queries, self.artifacts, name, actor=actor, now=now)
        if dry_run:
            return GcReport(True, cmd.targets)
        return GcReport(False, cmd.targets, tuple(self._run(retention.collect, cmd)))

    def drill(self, name: str, env: str = "default", *, actor: str,
              checks: Mapping[str, EntryCheck] | None = None, now: datetime | None = None) -> DrillResult:
        """Rehearse `rollback(name, env)` without moving anything and record the result as one
        `rollback.drill` event (passed or failed). `checks`: more checks by name, each taking the
        target Entry and returning (ok, detail); "backend_load" is the gateway's (drill_checks.py),
        a given "refs" is added to the registry's own. Needs `rollback`."""
        cmd = drills.drill_command(self.queries, self.artifacts, name, env, actor=actor, checks=checks, now=now)
        self._run(drills.record_drill, cmd)
        return cmd.result

    def drill_all(self, *, actor: str, checks: Mapping[str, EntryCheck] | None = None,
                  now: datetime | None = None) -> list[DrillResult]:
        """A drill for every (name, env) with a production version (what the weekly schedule runs)."""
        targets = sorted({(p.name, p.env) for p in self.store.pointers() if p.stage == "production"})
        return [self.drill(name, env, actor=actor, checks=checks, now=now) for name, env in targets]

    def drills(self, name: str | None = None, env: str | None = None) -> list[Event]:
        """The recorded drills, oldest first."""
        from llmreg.registry.events import ROLLBACK_DRILL

        return self.queries.events(name=name, env=env, types=(ROLLBACK_DRILL,))

    # ------------------------------------------------------------------ approval and drift policy

    def configure_approval_policy(self, policy: ApprovalPolicy | Mapping[str, Any] | str | os.PathLike, *,
                                  actor: str) -> Event:
        """Replace the production approval policy ({default: rule, names: {NAME: rule}}; a name may
        only tighten the default); audited as config.approvals. Needs `configure`."""
        return self._run(policies.configure_approvals, policies.approvals_command(policy, actor=actor))[-1]

    def approval_policy(self) -> ApprovalPolicy:
        """The approval policy in force (today's two distinct non-author approvers until one is set)."""
        return policies.approval_policy(self.store)

    def approval_rule(self, name: str) -> tuple[Any, str]:
        """(rule, source) the production gate applies to `name` now (gates.yaml's count is a floor)."""
        return policies.approval_rule(self.store, name, self.queries.current_config()[1])

    def configure_drift_policy(self, policy: DriftPolicy | Mapping[str, Any] | str | os.PathLike, *,
                               actor: str) -> Event:
        """Replace the drift rules ({default: rule, names: {NAME: rule}}); audited as config.drift."""
        return self._run(policies.configure_drift, policies.drift_command(policy, actor=actor))[-1]

    def drift_policy(self) -> DriftPolicy:
        return policies.drift_policy(self.queries)

    def drift_check(self, observe: drift_checks.Observe, *, actor: str = drift_checks.ACTOR,
                    name: str | None = None) -> "DriftReport":
        """Judge every production version (of `name`, or all) against what certified it;
        record a signed `version.flagged` event per flag. A name whose drift rule says
        `action: rollback` is rolled back after its flag commits; any other flag waits for a human
        (or the gateway's SLO guard). Needs `record_evidence` (and `rollback` for that action)."""
        from llmreg.registry.errors import RegistryError

        cmd = drift_checks.check_drift(self.queries, observe, actor=actor, name=name)
        events = tuple(self._run(drift_checks.record_flags, cmd)) if any(f.verdict.flagged for f in cmd.findings) else ()
        rollbacks: list[dict[str, Any]] = []
        for event in events:
            if event.payload.get("action") != "rollback":
                continue
            try:
                done = self.rollback(event.name or "", event.env or "default", actor=cmd.actor,
                                     reason=f"drift: {'; '.join(event.payload.get('reasons') or ())} (flag #{event.seq})")
                rollbacks.append({"name": event.name, "env": event.env, "to": done.version, "seq": done.seq})
            except RegistryError as exc:  # recorded as a refusal by the handler; the flag stands
                rollbacks.append({"name": event.name, "env": event.env, "error": str(exc)})
        return DriftReport(cmd.findings, events, tuple(rollbacks))

    def flags(self, name: str | None = None, env: str | None = None) -> list[Event]:
        """The recorded drift flags, oldest first."""
        from llmreg.registry.events import VERSION_FLAGGED

        return self.queries.events(name=name, env=env, types=(VERSION_FLAGGED,))


class DriftReport:
    """What one drift check judged, the flags it recorded and any rollback a rule asked for."""

    def __init__(self, findings: tuple, events: tuple, rollbacks: tuple):
        self.findings, self.events, self.rollbacks = findings, events, rollbacks

    @property
    def flagged(self) -> list:
        return [f for f in self.findings if f.verdict.flagged]

    def to_dict(self) -> dict[str, Any]:
        return {"checked": len(self.findings), "flagged": len(self.flagged),
                "findings": [f.to_dict() for f in self.findings], "events": [e.seq for e in self.events],
                "rollbacks": list(self.rollbacks)}

    def summary(self) -> str:
        lines = [f.summary() for f in self.findings] or ["drift: nothing holds production; nothing to check"]
        lines += [f"rolled back {r['name']} in {r['env']} to {r['to']} (event #{r['seq']})" if "to" in r
                  else f"rollback of {r['name']} in {r['env']} refused: {r['error']}" for r in self.rollbacks]
        if self.findings:
            lines.append(f"{len(self.flagged)} of {len(self.findings)} production version(s) flagged; "
                         f"{len(self.events)} version.flagged event(s) written")
        return "\n".join(lines)
