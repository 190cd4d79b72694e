"""The operations part of the `Registry` facade: retention and gc, rollback drills.

    reg.configure_retention({"default": {"keep_production_days": 90}}, actor="admin")
    report = reg.gc(dry_run=True)            # a GcReport; a dry run writes nothing
    result = reg.drill("support-triage", "default", actor="system:rollback-drill")
    results = reg.drill_all(actor="system:rollback-drill", checks=drill_checks.gateway_checks(reg))

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
