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

import dataclasses
import os
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence, TypeVar

from llmreg.registry.artifact_ingest import ingest
from llmreg.registry.artifacts import ArtifactStore
from llmreg.registry.entry import Entry, EntrySpec, load_entry_file, parse_entry
from llmreg.registry.eval_reports import normalise_eval_report
from llmreg.registry.errors import IntegrityError, RegistryError
from llmreg.registry.events import Event
from llmreg.registry.gate_evidence import normalise_evidence, split_promotion_evidence
from llmreg.registry.gates_config import GatesConfig
from llmreg.registry import api_keys as ak
from llmreg.registry.handlers import api_keys, configuration, provider_snapshots, register, reviews, stages
from llmreg.registry.handlers.guard import Deps, check_actor
from llmreg.registry.identity import KeySource, authenticate, bound_signers
from llmreg.registry.integrity import VerifyReport
from llmreg.registry.ops_facade import RegistryOps
from llmreg.registry.read_facade import RegistryReads, open_store
from llmreg.registry.records_facade import RegistryRecords
from llmreg.registry.resolve import DEFAULT_ENV
from llmreg.registry.roles import Roles
from llmreg.registry.store.port import Reads, Store, UnitOfWork
from llmreg.registry.webhooks import RegistryWebhooks

__all__ = ["Registry", "VerifyReport", "normalise_eval_report", "normalise_evidence", "split_promotion_evidence"]
C = TypeVar("C")


class Registry(RegistryRecords, RegistryWebhooks, RegistryOps, RegistryReads):
    """Facade over a store (SQL, or any Store), the artifact store and the handlers; the
    reads (get, resolve, status, events, ...) are `RegistryReads`' (read_facade.py), gc and
    rollback drills `RegistryOps`' (ops_facade.py), webhook subscriptions `RegistryWebhooks`'
    (webhooks.py), the records the gates read (evals, evidence, suites, gate failures,
    rejected candidates) `RegistryRecords`' (records_facade.py)."""

    def __init__(self, store: Store, artifacts: ArtifactStore, *, cache: bool = True, refresh_interval: float = 0.5,
                 keys: KeySource | None = None):
        super().__init__(store, artifacts, cache=cache, refresh_interval=refresh_interval)
        self._deps = Deps(config=lambda uow: self.queries.config(uow.head.config_seq, uow), entry=self._stored_entry,
                          latest=self._latest_version)
        self._last_registered: dict[str, Entry] = {}
        self.keys = keys or KeySource()  # identity.py: which key signs each actor's writes
        self._signers_cache: dict = {}
        self._known_keys: dict[str, str] = {}
        self._high_water: tuple[int, str] = (0, "")  # the newest head this object saw (see _check_head)

    @classmethod
    def open(cls, url: str | os.PathLike | None = None, *, artifacts: str | os.PathLike | None = None,
             cache: bool = True, refresh_interval: float = 0.5, keys: KeySource | None = None) -> "Registry":
        """url: sqlite:///path.db | a file path | postgresql+psycopg://... | None (LLMREG_STORE or
        .llmreg/registry.db). artifacts: a directory or fsspec URL (LLMREG_ARTIFACTS, else
        `artifacts/` beside the SQLite file, else .llmreg/artifacts). keys: where signing keys
        come from (default: $LLMREG_KEYRING, $LLMREG_SIGNING_KEY, the per-user key)."""
        store, root = open_store(url, artifacts)
        return cls(store, ArtifactStore(root), cache=cache, refresh_interval=refresh_interval, keys=keys)

    def __enter__(self) -> "Registry":
        return self

    def __repr__(self) -> str:
        return f"Registry({self.store!r}, artifacts={self.artifacts.root!r})"

    # ================================================================== writes

    def _run(self, handler: Callable[[C, UnitOfWork, Deps], Any], command: C) -> Any:
        asserted = command.actor  # type: ignore[attr-defined]  # every command names its actor
        key = self.keys.key_for(asserted)  # before the transaction: no key, nothing written
        try:
            with self.store.unit_of_work() as uow:
                self._check_head(uow)
                signers = bound_signers(uow, self._signers_cache)
                member = authenticate(uow, asserted, key, signers, self._known_keys)
                if member != asserted:
                    command = dataclasses.replace(command, actor=member)  # type: ignore[type-var]
                uow.key = key
                uow.remember_key(key.public)
                events = handler(command, uow, self._deps)
            if uow.events:
                self._high_water = (uow.events[-1].seq, uow.events[-1].hash)
            return events
        finally:
            seq = self.store.committed_seq()
            self.resolver.invalidate(seq if seq is not None else self._head_seq_or_none())

    def _check_head(self, uow: UnitOfWork) -> None:
        """Before appending: the head must be the last stored event, and never behind a head this
        object saw (a truncated log with its head row reset is refused, not extended)."""
        head = uow.head
        if head.seq < self._high_water[0] or (head.seq == self._high_water[0] and head.hash != self._high_water[1]
                                              and head.seq):
            raise IntegrityError(f"the log's head is #{head.seq}, but this process saw #{self._high_water[0]}: "
                                 "events were removed or rewritten; run `llmreg audit verify --checkpoint FILE`")
        if (head.seq, head.hash) == self._high_water:
            return  # what this object wrote or saw last: checked then
        if head.seq and uow.stored_hash(head.seq) != head.hash:
            raise IntegrityError(f"the head row says #{head.seq} {head.hash[:16]}..., the log does not end there; "
                                 "run `llmreg audit verify`")
        self._high_water = (head.seq, head.hash)

    def _head_seq_or_none(self) -> int | None:
        try:
            return self.store.head_seq()
        except Exception:  # noqa: BLE001 - only refreshes the cache marker
            return None

    def _stored_entry(self, reads: Reads, name: str, version: str) -> Entry:
        last = self._last_registered.get(name)
        if last is not None and last.version == version:
            return last
        return self.queries.entry(name, version, reads)

    def _latest_version(self, uow: UnitOfWork, name: str) -> str | None:
        """`name`'s latest version; without a query (a round trip on PostgreSQL) when the locked
        head is the very event this object wrote registering `name` last: nothing was written
        since, and versions only move forward, so that version is the latest."""
        last = self._last_registered.get(name)
        head = uow.head
        if last is not None and head.seq == last.seq and (head.seq, head.hash) == self._high_water:
            return last.version
        return uow.latest_version(name)

    def register(self, spec: EntrySpec | Mapping[str, Any], *, actor: str, bump: str | None = None,
                 version: str | None = None, import_history: bool = False, env: str = DEFAULT_ENV,
                 base_dir: str | None = None) -> Entry:
        """Register a new version (an EntrySpec or a mapping). The version is bumped from the diff
        against the latest; `bump`/`version` override it (recorded; never backwards, never reused).
        import_history=True takes version/status/approved_by from the document (audited, needs
        `configure`). Relative artifact uris start at `base_dir` (default: the cwd)."""
        if isinstance(spec, (str, bytes, os.PathLike)):
            raise TypeError("register() takes an EntrySpec or a mapping; use register_file(path) or register_text(text)")
        actor = check_actor(actor)
        parsed, assigned = (spec, {}) if isinstance(spec, EntrySpec) else parse_entry(spec, import_history=import_history)
        return self._register(parsed, assigned, base_dir, actor, bump, version, import_history, env)

    def register_file(self, path: str | os.PathLike, *, actor: str, bump: str | None = None,
                      version: str | None = None, import_history: bool = False, env: str = DEFAULT_ENV) -> Entry:
        """Register an entry file (.yaml/.yml/.json); relative artifact uris start at its folder."""
        actor = check_actor(actor)
        parsed, assigned = load_entry_file(path, import_history=import_history)
        base_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
        return self._register(parsed, assigned, base_dir, actor, bump, version, import_history, env)

    def register_text(self, text: str, *, actor: str, bump: str | None = None, version: str | None = None,
                      import_history: bool = False, env: str = DEFAULT_ENV) -> Entry:
        """Register an entry given as YAML or JSON text."""
        actor = check_actor(actor)
        parsed, assigned = parse_entry(text, import_history=import_history)
        return self._register(parsed, assigned, None, actor, bump, version, import_history, env)

    def register_many(self, specs: Iterable[EntrySpec | Mapping[str, Any] | str | os.PathLike], *, actor: str,
                      base_dir: str | None = None) -> list[Entry]:
        """Register several versions in one transaction: all of them or none, with one durable
        commit for the lot (a bulk load, a CI job registering a matrix of prompts). Each entry
        still gets its own signed event and its own bump from the diff against its name's
        latest version, an earlier one of the same batch included. Items are EntrySpecs,
        mappings or entry file paths (whose relative uris start at their folder; a mapping's
        at `base_dir`, default the cwd). Imports and explicit versions/bumps go one at a time."""
        actor = check_actor(actor)
        specs = list(specs)  # an iterator too: a failing item is named by its index
        checked: set[tuple[str, str, int | None]] = set()
        commands = []
        for index, item in enumerate(specs):
            try:
                if isinstance(item, EntrySpec):
                    parsed, folder = item, base_dir
                elif isinstance(item, Mapping):
                    parsed, folder = parse_entry(item)[0], base_dir
                elif isinstance(item, (str, os.PathLike)):
                    parsed, folder = load_entry_file(item)[0], os.path.dirname(os.path.abspath(os.fspath(item)))
                else:
                    raise TypeError(f"register_many() takes EntrySpecs, mappings or paths, not {type(item).__name__}")
                commands.append(register.Register(ingest(self.artifacts, parsed, folder, checked), actor))
            except RegistryError as exc:
                _name_batch_item(exc, item, index)
                raise
        try:
            entries, _ = self._run(register.register_batch, register.RegisterBatch(tuple(commands), actor))
        except RegistryError as exc:
            failed = getattr(exc, "batch_index", None)
            if failed is not None:
                _name_batch_item(exc, specs[failed], failed, " (nothing of the batch was written)")
            raise
        for entry in entries:
            self._remember(entry)
        return entries

    def _register(self, parsed: EntrySpec, assigned: Mapping[str, Any], base_dir: str | None, actor: str,
                  bump: str | None, version: str | None, import_history: bool, env: str) -> Entry:
        cmd = register.register_command(parsed, assigned, actor=actor, bump=bump, version=version,
                                        import_history=import_history, env=env)
        # Every pinned file read and checked before the transaction; relative uris recorded absolute.
        cmd = dataclasses.replace(cmd, spec=ingest(self.artifacts, parsed, base_dir))
        entry, _ = self._run(register.register, cmd)
        self._remember(entry)
        return entry

    def _remember(self, entry: Entry) -> None:
        # Kept for the next registration's diff only, replacing the one before: caching every
        # registered version would hold a bulk import in memory; at most 256 names (the oldest
        # goes), so registering 10k names keeps memory flat too.
        last = self._last_registered
        if entry.name not in last and len(last) >= 256:
            del last[next(iter(last))]
        last[entry.name] = entry

    def review(self, name: str, version: str, env: str = DEFAULT_ENV, *, actor: str, decision: str = "approve",
               notes: str = "") -> Event:
        """A human review of the eval results (the staging -> canary gate)."""
        cmd = reviews.review_command(self.queries, name, version, env, actor=actor, decision=decision, notes=notes)
        return self._run(reviews.review, cmd)[-1]

    def approve(self, name: str, version: str, stage: str = "production", env: str = DEFAULT_ENV, *,
                actor: str) -> Event:
        """Sign off for production; two distinct non-authors are needed."""
        return self._run(reviews.approve, reviews.approval_command(self.queries, name, version, stage, env,
                                                                   actor=actor))[-1]

    def withdraw_approval(self, name: str, version: str, stage: str = "production", env: str = DEFAULT_ENV, *,
                          actor: str) -> Event:
        cmd = reviews.approval_command(self.queries, name, version, stage, env, actor=actor)
        return self._run(reviews.withdraw_approval, cmd)[-1]

    def promote(self, name: str, version: str, stage: str, env: str = DEFAULT_ENV, *, actor: str,
                evidence: Mapping[str, Any] | None = None, weight: float | None = None,
                expect: Any = stages.UNSET) -> Event:
        """Move `version` to `stage` (staging|canary|production) in `env` if every gate passes.
        `expect`: the holder the caller saw (default: read now); another one is a Conflict.
        evidence with a "kind" (e.g. canary_slo) is also recorded as gate evidence first."""
        cmd = stages.promote_command(self.queries, self.artifacts, name, version, stage, env, actor=actor,
                                     evidence=evidence, weight=weight, expect=expect)
        return self._run(stages.promote, cmd)[-1]

    def archive(self, name: str, version: str, env: str = DEFAULT_ENV, *, actor: str,
                evidence: Mapping[str, Any] | None = None) -> Event:
        """Archive a version in env: never the production holder (a replacement must hold production)."""
        cmd = stages.archive_command(self.queries, name, version, env, actor=actor, evidence=evidence)
        return self._run(stages.archive, cmd)[-1]

    def rollback(self, name: str, env: str = DEFAULT_ENV, *, actor: str, to: str | None = None, reason: str = "",
                 evidence: Mapping[str, Any] | None = None) -> Event:
        """Put an earlier production version back (default: the newest below the holder that held
        production in env; `to` picks any), in one audited event."""
        cmd = stages.rollback_command(self.queries, self.artifacts, name, env, actor=actor, to=to, reason=reason,
                                      evidence=evidence)
        return self._run(stages.rollback, cmd)[-1]

    def pull_canary(self, name: str, env: str = DEFAULT_ENV, *, actor: str, reason: str = "",
                    evidence: Mapping[str, Any] | None = None) -> Event:
        """Take the canary out: its version goes back to development; no other takes its place."""
        cmd = stages.pull_canary_command(self.queries, name, env, actor=actor, reason=reason, evidence=evidence)
        return self._run(stages.pull_canary, cmd)[-1]

    def configure_roles(self, roles: Roles | Mapping[str, Any] | str | os.PathLike, *, actor: str,
                        signers: Any = None) -> Event:
        """Replace the roles (a Roles, a mapping or a roles.yaml path) and, with `signers:` in it or
        `signers` (AllowedSigners, {member: [key lines]} or an allowed-signers file), the keys bound
        to members; audited as config.roles, signed by a key allowed to configure."""
        cmd = configuration.roles_command(roles, actor=actor, signers=signers)
        return self._run(configuration.configure_roles, cmd)[-1]

    def configure_gates(self, gates: GatesConfig | Mapping[str, Any] | str | os.PathLike, *, actor: str) -> Event:
        """Replace the gates config (a GatesConfig, a mapping or a gates.yaml path); audited."""
        return self._run(configuration.configure_gates, configuration.gates_command(gates, actor=actor))[-1]

    # ================================================================== provider snapshots

    def record_provider_discovery(self, provider: str, models: Sequence[Mapping[str, Any]], *, actor: str,
                                  families: Collection[str] | None = None, base_url: str | None = None) -> list[Event]:
        """Record what a provider's model list shows now, in one transaction (idempotent)."""
        cmd = provider_snapshots.discovery_command(provider, models, actor=actor, families=families,
                                                   base_url=base_url)
        return self._run(provider_snapshots.record_discovery, cmd)

    def record_provider_failure(self, provider: str, error: str, *, actor: str,
                                base_url: str | None = None) -> Event | None:
        """A provider's model list could not be read; recorded when it is news, else None."""
        events = self._run(provider_snapshots.record_provider_failure,
                           provider_snapshots.failure_command(provider, error, actor=actor, base_url=base_url))
        return events[-1] if events else None

    def record_provider_snapshot(self, provider: str, snapshot: str, status: str, *, actor: str,
                                 report: Mapping[str, Any] | None = None, drafts: Sequence[Any] = (),
                                 **fields: Any) -> Event:
        """One step of a snapshot's life (statuses: providers.py); `report` is kept as evidence.
        `drafts` (only with qualified) are registered with a major bump in the same transaction."""
        cmd = provider_snapshots.snapshot_command(provider, snapshot, status, actor=actor,
                                                  report=report, drafts=drafts, fields=fields)
        cmd = dataclasses.replace(cmd, drafts=tuple(ingest(self.artifacts, spec, None) for spec in cmd.drafts))
        return self._run(provider_snapshots.record_snapshot, cmd)[-1]

    # ================================================================== gateway API keys

    def create_api_key(self, name: str, *, actor: str, scopes: ak.KeyScopes | None = None) -> tuple[ak.ApiKey, str]:
        """A new gateway key: (record, secret). The event keeps only the secret's SHA-256; the
        secret is returned once, here, and stored nowhere. Needs `configure` (admin)."""
        key_id, secret = ak.new_secret()
        cmd = api_keys.create_command(name, key_id, ak.digest(secret), scopes, actor=actor)
        self._run(api_keys.create_key, cmd)
        created = self.store.api_key(key_id)
        assert created is not None  # committed just above
        return created, secret

    def revoke_api_key(self, key_id: str, *, actor: str, reason: str = "") -> ak.ApiKey:
        """Revoke a key (audited); revoking it again records nothing and returns it as it is."""
        self._run(api_keys.revoke_key, api_keys.revoke_command(key_id, reason, actor=actor))
        revoked = self.store.api_key(key_id)
        assert revoked is not None
        return revoked

    def api_keys(self) -> list[ak.ApiKey]:
        """Every gateway key (digests and scopes, revoked ones too), oldest first."""
        return self.store.api_keys()

    # ================================================================== maintenance

    def rebuild_projection(self) -> int:
        """Replay the log into fresh projection tables (the log is the source of truth)."""
        try:
            return self.store.rebuild_projection()
        finally:
            self.queries.forget()
            self.resolver.forget()
            self.resolver.invalidate(self._head_seq_or_none())


def _name_batch_item(exc: Exception, item: Any, index: int, note: str = "") -> None:
    """Prefix a batch error with the item it is about (its file, else its position)."""
    where = os.fspath(item) if isinstance(item, (str, os.PathLike)) else f"entry #{index + 1}"
    text = str(exc)
    if not text.startswith(where) and not getattr(exc, "sourced", False):
        text = f"{where}: {text}"
    exc.args = (text + note, *exc.args[1:])
