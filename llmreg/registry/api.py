"""`Registry`: the one object applications, the pipeline and the CLI talk to.

    reg = Registry.open()                     # LLMREG_STORE or .llmreg/registry.db
    entry = reg.register_file("support-triage.yaml", actor="alice")
    reg.promote("support-triage", entry.version, "staging", actor="ci")
    cfg = reg.resolve("support-triage", stage="production")

A thin facade: each write validates its input into a command (handlers/*), does any slow
I/O outside the transaction (hashing artifacts), then runs the command's handler in one
unit of work of the store (store/port.py): the role check, the gates, the events and their
projection commit together. A refused action (role, rule, gate, lost race) commits only
its refusal record (`action.refused`, `gate.failed`) and then raises; anything else that
goes wrong writes nothing. Reads go to `queries.Queries`; `resolve` answers through
`resolve_cache.ResolveCache`, which every write through this object clears.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Collection, Mapping, Sequence, TypeVar

from llmreg.registry import integrity
from llmreg.registry.artifacts import ArtifactStore
from llmreg.registry.audit import AuditReport
from llmreg.registry.entry import Entry, EntrySpec, load_entry_file, parse_entry
from llmreg.registry.errors import BadInput, NotFound, Refused
from llmreg.registry.eval_reports import check_verdict, normalise_eval_report, target_mismatches
from llmreg.registry.events import Event
from llmreg.registry.fields import as_number, as_str, as_token, validate_actor
from llmreg.registry.gate_evidence import normalise_evidence, split_promotion_evidence
from llmreg.registry.gates_config import GatesConfig, suite_fairness_max_gap
from llmreg.registry.handlers import configuration, provider_snapshots, records, register, reviews, stages
from llmreg.registry.handlers.guard import Deps
from llmreg.registry.integrity import VerifyReport
from llmreg.registry.lifecycle import REVIEW_DECISIONS, check_target
from llmreg.registry.queries import NameStatus, Queries
from llmreg.registry.resolve import DEFAULT_ENV, RESOLVABLE_STAGES, Resolved, check_env
from llmreg.registry.resolve_cache import ResolveCache
from llmreg.registry.roles import Roles
from llmreg.registry.semver import parse_version
from llmreg.registry.store.port import Pointer, Reads, Store, UnitOfWork
from llmreg.registry.store.sql import SQLStore

__all__ = ["Registry", "VerifyReport", "normalise_eval_report", "normalise_evidence", "split_promotion_evidence"]
C = TypeVar("C")
_UNSET: Any = object()


class Registry:
    """Facade over a store (SQL, or any Store), the artifact store and the handlers."""

    def __init__(self, store: Store, artifacts: ArtifactStore, *, cache: bool = True, refresh_interval: float = 0.5):
        self.store = store
        self.artifacts = artifacts
        self.queries = Queries(store)
        self.resolver = ResolveCache(self.queries, enabled=cache, refresh_interval=refresh_interval)
        self._deps = Deps(config=lambda uow: self.queries.config(uow.head.config_seq, uow), entry=self._stored_entry)
        self._last_registered: dict[str, Entry] = {}
        self._verified: set[tuple[str, str]] = set()

    @classmethod
    def open(cls, url: str | os.PathLike | None = None, *, artifacts: str | os.PathLike | None = None,
             cache: bool = True, refresh_interval: float = 0.5) -> "Registry":
        """url: sqlite:///path.db | a file path | postgresql+psycopg://... | None (LLMREG_STORE or
        .llmreg/registry.db). artifacts: a directory or fsspec URL (LLMREG_ARTIFACTS, else
        `artifacts/` beside the SQLite file, else .llmreg/artifacts)."""
        store = SQLStore(url)
        root = artifacts or os.environ.get("LLMREG_ARTIFACTS")
        if root is None:
            base = os.path.dirname(store.url.path) if store.url.path else os.path.abspath(".llmreg")
            root = os.path.join(base, "artifacts")
        return cls(store, ArtifactStore(root), cache=cache, refresh_interval=refresh_interval)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.store!r}, artifacts={self.artifacts.root!r})"

    # ================================================================== reads

    def get(self, name: str, version: str | None = None) -> Entry:
        """One entry; the latest version when `version` is None. 'name@version' works too."""
        return self.queries.get(name, version)

    def versions(self, name: str) -> list[str]:
        """Versions of `name`, semver ascending; [] for an unknown name."""
        return self.store.versions(name)

    def names(self) -> list[str]:
        return self.store.names()

    def list_entries(self, name: str | None = None) -> list[Entry]:
        """The latest version of every name, or every version of `name`."""
        return self.queries.list_entries(name)

    def status(self, name: str) -> NameStatus:
        """{env: {stage: version}} held now; `.of(version, env)` is one version's status there."""
        return self.queries.status(name)

    def pointers(self, name: str | None = None, env: str | None = None) -> list[Pointer]:
        """Stage holders with canary weight, seq and time (what the gateway splits traffic on)."""
        return self.store.pointers(name, env)

    def head_seq(self) -> int:
        """The log's sequence number: changes whenever anything is written (one cheap query)."""
        return self.store.head_seq()

    def events(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
               types: Collection[str] | None = None, after: int | None = None, since: Any = None,
               until: Any = None, limit: int | None = None, newest_first: bool = False) -> list[Event]:
        """Events of the log in seq order (newest first if asked): after a seq (a sensor's
        cursor), of a name/version/env, of some types, between two times."""
        return self.queries.events(name=name, version=version, env=env, types=types, after=after, since=since,
                                   until=until, limit=limit, newest_first=newest_first)

    def verify_audit(self) -> AuditReport:
        """Walk the whole hash chain and check it ends at the head."""
        return self.store.verify_chain()

    def diff(self, a: Entry | EntrySpec | str, b: Entry | EntrySpec | str):
        """Field-level diff of two entries: each an Entry, an EntrySpec or 'name@version'
        (an entry file: `diff(load_entry_file(path)[0], ...)`)."""
        return self.queries.diff(a, b)

    def roles(self) -> Roles:
        return self.queries.config(self.store.head().config_seq)[0]

    def gates(self) -> GatesConfig:
        return self.queries.config(self.store.head().config_seq)[1]

    @property
    def roles_configured(self) -> bool:
        return not self.roles().open_mode

    def lineage(self, name: str, version: str):
        from llmreg.registry.lineage import build_lineage

        entry = self.queries.entry(name, version)
        return build_lineage(entry, [e.to_dict() for e in self.store.events(name=name, version=version)])

    def card(self, name: str, version: str) -> str:
        from llmreg.registry.card import render_card
        from llmreg.registry.handlers.guard import promotion_context

        entry = self.queries.entry(name, version)
        gates = self.gates()
        # The bound the fairness gate would apply, so the card and the gate agree.
        ctx = promotion_context(self.store, entry, DEFAULT_ENV, "canary", entry.author, gates)
        bound = gates.fairness_bound(entry.spec.gates, ctx.suite_fairness_max_gap, ctx.suite_ref)
        statuses = self.queries.status(name).versions.get(version, {})
        history = [e.to_dict() for e in self.store.events(name=name, version=version)]
        return render_card(entry, statuses=statuses, history=history, gates=gates, fairness_bound=bound)

    def resolve(self, name: str, env: str = DEFAULT_ENV, *, stage: str = "production", at: Any = None,
                verify: bool = False) -> Resolved:
        """The tuple holding `stage` of `env` now, or at time `at`. verify=True re-hashes the
        version's artifacts the first time this process resolves it (IntegrityError on a mismatch)."""
        if stage not in RESOLVABLE_STAGES:
            raise BadInput(f"stage: {stage!r} cannot be resolved; use one of {', '.join(RESOLVABLE_STAGES)}",
                           field="stage")
        verified = (lambda hit: (name, hit.version) in self._verified) if verify else None
        resolved = self.resolver.resolve(name, check_env(env), stage, at, verified=verified)
        if verify and (name, resolved.version) not in self._verified:
            integrity.require_artifacts(self.artifacts, resolved.entry)
            self._verified.add((name, resolved.version))
        return resolved

    def verify(self, name: str | None = None, version: str | None = None) -> VerifyReport:
        """Re-hash every artifact of one version, every version of `name`, or everything."""
        if name is None:
            entries = [self.queries.entry(n, v) for n in self.store.names() for v in self.store.versions(n)]
        elif version is None and "@" not in name:
            entries = self.list_entries(name)
        else:
            entries = [self.get(name, version)]
        checks = tuple((e.ref, c) for e in entries for c in integrity.check_artifacts(self.artifacts, e))
        return VerifyReport(all(check.ok for _, check in checks), checks)

    # ================================================================== writes

    def _run(self, handler: Callable[[C, UnitOfWork, Deps], Any], command: C) -> Any:
        try:
            with self.store.unit_of_work() as uow:
                return handler(command, uow, self._deps)
        finally:
            seq = self.store.committed_seq()
            self.resolver.invalidate(seq if seq is not None else self._head_seq_or_none())

    def _head_seq_or_none(self) -> int | None:
        try:
            return self.store.head_seq()
        except Exception:  # noqa: BLE001 - only used to refresh the cache marker
            return None

    def _stored_entry(self, reads: Reads, name: str, version: str) -> Entry:
        last = self._last_registered.get(name)
        if last is not None and last.version == version:
            return last
        return self.queries.entry(name, version, reads)

    @staticmethod
    def _actor(actor: Any) -> str:
        if actor is None or actor == "":
            raise BadInput("actor: who is acting? pass actor=... (CLI: --actor NAME or LLMREG_ACTOR)", field="actor")
        return validate_actor(actor)

    def register(self, spec: EntrySpec | Mapping[str, Any], *, actor: str, bump: str | None = None,
                 version: str | None = None, import_history: bool = False, env: str = DEFAULT_ENV,
                 base_dir: str | None = None) -> Entry:
        """Register a new version (an EntrySpec or a mapping). The version is bumped from the diff
        against the latest version; `bump`/`version` override it (recorded; never backwards, never
        reused). import_history=True takes version/status/approved_by from the document (audited,
        needs `configure`). Relative artifact uris start at `base_dir` (default: the cwd)."""
        if isinstance(spec, (str, bytes, os.PathLike)):
            raise TypeError("register() takes an EntrySpec or a mapping; use register_file(path) or register_text(text)")
        parsed, assigned = (spec, {}) if isinstance(spec, EntrySpec) else parse_entry(spec, import_history=import_history)
        return self._register(parsed, assigned, base_dir, actor, bump, version, import_history, env)

    def register_file(self, path: str | os.PathLike, *, actor: str, bump: str | None = None,
                      version: str | None = None, import_history: bool = False, env: str = DEFAULT_ENV) -> Entry:
        """Register an entry file (.yaml/.yml/.json); relative artifact uris start at its folder."""
        parsed, assigned = load_entry_file(path, import_history=import_history)
        base_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
        return self._register(parsed, assigned, base_dir, actor, bump, version, import_history, env)

    def register_text(self, text: str, *, actor: str, bump: str | None = None, version: str | None = None,
                      import_history: bool = False, env: str = DEFAULT_ENV) -> Entry:
        """Register an entry given as YAML or JSON text."""
        parsed, assigned = parse_entry(text, import_history=import_history)
        return self._register(parsed, assigned, None, actor, bump, version, import_history, env)

    def _register(self, parsed: EntrySpec, assigned: Mapping[str, Any], base_dir: str | None, actor: str,
                  bump: str | None, version: str | None, import_history: bool, env: str) -> Entry:
        cmd = register.register_command(parsed, assigned, actor=self._actor(actor), bump=bump, version=version,
                                        import_history=import_history, env=env)
        integrity.ingest(self.artifacts, parsed, base_dir)
        entry, _ = self._run(register.register, cmd)
        # Kept for the next registration's diff only, replacing the one before: caching every
        # registered version would hold a bulk import in memory.
        self._last_registered[entry.name] = entry
        return entry

    def record_eval(self, name: str, version: str, report: Mapping[str, Any], *, actor: str) -> Event:
        """Attach an eval result; a report whose `target` digests are not this version's is refused."""
        actor, entry = self._actor(actor), self.queries.entry(name, version)
        normalised = normalise_eval_report(report)
        check_verdict(report)
        mismatches = tuple(target_mismatches(entry.spec, report))
        return self._run(records.record_eval, records.RecordEval(entry, actor, report, normalised, mismatches))[-1]

    def register_suite(self, name: str, version: str, threshold: float | None,
                       definition: Mapping[str, Any] | None = None, *, actor: str) -> Event | None:
        """Register an eval suite version and its threshold; the same content again is None."""
        from llmreg.registry.canonical import canonical_json

        actor = self._actor(actor)
        name = as_token(name, "suite")
        version = as_token(str(version) if isinstance(version, (int, float)) else version, "version", max_len=128)
        threshold = as_number(threshold, "threshold", lo=0.0, hi=1.0, optional=True)
        definition = dict(definition or {})
        canonical_json(definition)  # refuses NaN and non-JSON values up front
        suite_fairness_max_gap(definition, strict=True)  # the fairness gate reads it: refuse a bad bound now
        events = self._run(records.register_suite, records.RegisterSuite(name, version, actor, threshold, definition))
        return events[-1] if events else None

    def review(self, name: str, version: str, env: str = DEFAULT_ENV, *, actor: str, decision: str = "approve",
               notes: str = "") -> Event:
        """A human review of the eval results (the staging -> canary gate)."""
        actor, env = self._actor(actor), check_env(env)
        if decision not in REVIEW_DECISIONS:
            raise BadInput(f"decision: {decision!r} is not one of {', '.join(REVIEW_DECISIONS)}", field="decision")
        notes = as_str(notes, "notes", optional=True, max_len=5000, allow_control=True) or "" if notes else ""
        cmd = reviews.Review(self.queries.entry(name, version), env, actor, decision, notes)
        return self._run(reviews.review, cmd)[-1]

    def approve(self, name: str, version: str, stage: str = "production", env: str = DEFAULT_ENV, *,
                actor: str) -> Event:
        """Sign off for production; two distinct non-authors are needed."""
        actor, env = self._actor(actor), check_env(env)
        reviews.check_approval_stage(name, version, stage, env)
        return self._run(reviews.approve, reviews.Approve(self.queries.entry(name, version), env, actor, stage))[-1]

    def withdraw_approval(self, name: str, version: str, stage: str = "production", env: str = DEFAULT_ENV, *,
                          actor: str) -> Event:
        actor, env = self._actor(actor), check_env(env)
        reviews.check_approval_stage(name, version, stage, env)
        cmd = reviews.WithdrawApproval(self.queries.entry(name, version), env, actor, stage)
        return self._run(reviews.withdraw_approval, cmd)[-1]

    def record_evidence(self, name: str, version: str, env: str, kind: str, data: Mapping[str, Any], *,
                        actor: str) -> Event:
        """Evidence for a gate, e.g. kind "canary_slo" {error_rate, p99_ms, calls[, eval_score]}."""
        actor, env = self._actor(actor), check_env(env)
        kind, data = normalise_evidence(kind, data)
        self.queries.entry(name, version)
        return self._run(records.record_evidence, records.RecordEvidence(name, version, env, actor, kind, data))[-1]

    def record_gate_failure(self, name: str, version: str, stage: str, env: str = DEFAULT_ENV, *, actor: str,
                            detail: str, evidence: Mapping[str, Any] | None = None,
                            gate: str = "eval_threshold") -> Event:
        """Record a gate that failed outside a promotion (e.g. the eval sensor's verdict)."""
        actor, env = self._actor(actor), check_env(env)
        check_target(stage)
        detail = as_str(detail, "detail", max_len=2000)
        self.queries.entry(name, version)
        cmd = records.RecordGateFailure(name, version, env, actor, stage, gate, detail, dict(evidence or {}))
        return self._run(records.record_gate_failure, cmd)[-1]

    def promote(self, name: str, version: str, stage: str, env: str = DEFAULT_ENV, *, actor: str,
                evidence: Mapping[str, Any] | None = None, weight: float | None = None, expect: Any = _UNSET) -> Event:
        """Move `version` to `stage` (staging|canary|production) in `env` if every gate passes.
        `expect`: the holder the caller saw (default: read now); another one is a Conflict.
        evidence with a "kind" (e.g. canary_slo) is also recorded as gate evidence first."""
        actor, env = self._actor(actor), check_env(env)
        if stage == "archived":
            raise BadInput(f"stage: archiving is not a promotion; call archive({name!r}, {version!r}) "
                           "(CLI: llmreg archive)", field="stage")
        check_target(stage)
        weight = stages.canary_weight(stage, weight)
        attached, gate_evidence = split_promotion_evidence(evidence)
        entry = self.queries.entry(name, version)
        if expect is _UNSET:
            row = self.store.pointer(name, env, stage)
            expect = row[0] if row else None
        gate = integrity.artifact_gate(self.artifacts, entry) if stage in ("canary", "production") else None
        cmd = stages.Promote(entry, stage, env, actor, expect, weight, attached, gate_evidence, gate)
        return self._run(stages.promote, cmd)[-1]

    def archive(self, name: str, version: str, env: str = DEFAULT_ENV, *, actor: str,
                evidence: Mapping[str, Any] | None = None) -> Event:
        """Archive a version in env: never the production holder (a replacement must hold production)."""
        actor, env = self._actor(actor), check_env(env)
        attached, gate_evidence = split_promotion_evidence(evidence)
        cmd = stages.Archive(self.queries.entry(name, version), env, actor, attached, gate_evidence)
        return self._run(stages.archive, cmd)[-1]

    def rollback(self, name: str, env: str = DEFAULT_ENV, *, actor: str, to: str | None = None, reason: str = "",
                 evidence: Mapping[str, Any] | None = None) -> Event:
        """Put an earlier production version back in production, in one audited event. Default
        target: the newest version below the holder that held production in env; `to` picks any."""
        actor, env = self._actor(actor), check_env(env)
        reason = as_str(reason, "reason", optional=True, max_len=2000) or "" if reason else ""
        attached, _ = split_promotion_evidence(evidence)
        if to is not None:
            parse_version(to, "to")
        planned: tuple[str | None, str | None] = (None, None)
        plan_error, gate = None, None
        try:
            planned = stages.rollback_plan(self.store, name, env, to)
        except NotFound:
            raise self.queries.not_found(name) from None
        except Refused as exc:
            plan_error = exc
        if planned[1] is not None:
            gate = integrity.artifact_gate(self.artifacts, self.queries.entry(name, planned[1]))
        cmd = stages.Rollback(name, env, actor, to, reason, planned, plan_error, gate, attached)
        return self._run(stages.rollback, cmd)[-1]

    def pull_canary(self, name: str, env: str = DEFAULT_ENV, *, actor: str, reason: str = "",
                    evidence: Mapping[str, Any] | None = None) -> Event:
        """Take the canary out: its version goes back to development; no other takes its place."""
        actor, env = self._actor(actor), check_env(env)
        reason = as_str(reason, "reason", optional=True, max_len=2000) or "" if reason else ""
        attached, _ = split_promotion_evidence(evidence)
        row = self.store.pointer(name, env, "canary")
        if row is None and not self.store.versions(name):
            raise self.queries.not_found(name)
        cmd = stages.PullCanary(name, env, actor, row[0] if row else None, reason, attached)
        return self._run(stages.pull_canary, cmd)[-1]

    def configure_roles(self, roles: Roles | Mapping[str, Any] | str | os.PathLike, *, actor: str) -> Event:
        """Replace the roles (a Roles, a mapping or a roles.yaml path); audited as config.roles."""
        actor = self._actor(actor)
        parsed = roles if isinstance(roles, Roles) else (
            Roles.from_file(roles) if isinstance(roles, (str, os.PathLike)) else Roles.from_dict(roles))
        if not parsed.open_mode and not any(parsed.allows(member, "configure") for member in parsed.members):
            raise BadInput("roles: no member would hold `configure`, so nobody could change roles again; "
                           "give someone a role with configure (e.g. admin: ['*'])", field="roles")
        return self._run(configuration.configure_roles, configuration.ConfigureRoles(parsed, actor))[-1]

    def configure_gates(self, gates: GatesConfig | Mapping[str, Any] | str | os.PathLike, *, actor: str) -> Event:
        """Replace the gates config (a GatesConfig, a mapping or a gates.yaml path); audited."""
        actor = self._actor(actor)
        parsed = gates if isinstance(gates, GatesConfig) else (
            GatesConfig.from_file(gates) if isinstance(gates, (str, os.PathLike)) else GatesConfig.from_dict(gates))
        return self._run(configuration.configure_gates, configuration.ConfigureGates(parsed, actor))[-1]

    # ================================================================== provider snapshots

    def provider_log(self, provider: str | None = None, family: str | None = None) -> list:
        """The provider change log: one `providers.SnapshotRecord` per snapshot seen."""
        from llmreg.registry import providers as pv

        return pv.change_log(self.store.provider_records(provider), provider=provider, family=family)

    def provider_snapshot(self, provider: str, snapshot: str):
        """One snapshot's record; NotFound when the registry never saw it."""
        from llmreg.registry import providers as pv

        record = self.store.provider_record(pv.snapshot_key(provider, snapshot))
        if record is None:
            raise NotFound(f"{pv.snapshot_key(provider, snapshot)} has not been seen; run `llmreg providers discover`")
        return record

    def provider_discovery(self) -> dict:
        """{provider: DiscoveryRecord}: the last recorded state of each provider's model list."""
        return self.store.discovery_records()

    def record_provider_discovery(self, provider: str, models: Sequence[Mapping[str, Any]], *, actor: str,
                                  families: Collection[str] | None = None, base_url: str | None = None) -> list[Event]:
        """Record what a provider's model list shows now, in one transaction (idempotent)."""
        cmd = provider_snapshots.discovery_command(provider, models, actor=self._actor(actor), families=families,
                                                   base_url=base_url)
        return self._run(provider_snapshots.record_discovery, cmd)

    def record_provider_failure(self, provider: str, error: str, *, actor: str,
                                base_url: str | None = None) -> Event | None:
        """A provider's model list could not be read; recorded when it is news, else None."""
        from llmreg.registry import providers as pv

        actor = self._actor(actor)
        payload = pv.discovery_payload(provider, False, error=error, base_url=base_url)
        events = self._run(provider_snapshots.record_provider_failure,
                           provider_snapshots.RecordProviderFailure(actor, payload))
        return events[-1] if events else None

    def record_provider_snapshot(self, provider: str, snapshot: str, status: str, *, actor: str,
                                 report: Mapping[str, Any] | None = None, drafts: Sequence[Any] = (),
                                 **fields: Any) -> Event:
        """One step of a snapshot's life (statuses: providers.py); `report` is kept as evidence.
        `drafts` (only with qualified) are registered with a major bump in the same transaction."""
        cmd = provider_snapshots.snapshot_command(provider, snapshot, status, actor=self._actor(actor),
                                                  report=report, drafts=drafts, fields=fields)
        for spec in cmd.drafts:
            integrity.ingest(self.artifacts, spec, None)
        return self._run(provider_snapshots.record_snapshot, cmd)[-1]

    # ================================================================== maintenance

    def rebuild_projection(self) -> int:
        """Replay the log into fresh projection tables (the log is the source of truth)."""
        try:
            return self.store.rebuild_projection()
        finally:
            self.queries.forget()
            self.resolver.forget()
            self.resolver.invalidate(self._head_seq_or_none())
