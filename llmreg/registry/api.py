"""`Registry`: the one object applications, the pipeline and the CLI talk to.

    reg = Registry.open()                     # LLMREG_STORE or .llmreg/registry.db
    entry = reg.register("support-triage.yaml", actor="alice")
    reg.promote("support-triage", entry.version, "staging", actor="ci")
    cfg = reg.resolve("support-triage", env="production")

Every write is one transaction on the store (see store/sql.py): the role check, the
gates, the events and their projection commit together. A refused action (role, rule,
gate, lost race) commits only its refusal record (`action.refused`, `gate.failed`) and
then raises; anything else that goes wrong writes nothing.

Reads of entries are cached forever (entries are immutable); `resolve` answers from an
in-process cache checked against the log's sequence number at most every
`refresh_interval` seconds, and writes through this object clear it at once.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Collection, Iterator, Mapping, Sequence

from llmreg.registry import events as ev
from llmreg.registry.artifact_ingest import absolute_uris, ingest, pinned_files, verify_copies
from llmreg.registry.artifacts import ArtifactCheck, ArtifactStore
from llmreg.registry.audit import AuditReport
from llmreg.registry.canonical import Encoded
from llmreg.registry.entry import ArtifactRef, Entry, EntrySpec, load_entry_file, parse_entry
from llmreg.registry.eval_reports import check_verdict, normalise_eval_report, target_mismatches
from llmreg.registry.errors import BadInput, Conflict, Forbidden, GateFailed, IntegrityError, NotFound, Refused
from llmreg.registry.events import Event
from llmreg.registry.fields import as_number, as_str, as_token, validate_actor
from llmreg.registry.gates_config import GatesConfig, suite_fairness_max_gap
from llmreg.registry.lifecycle import (
    EVIDENCE_CANARY_SLO, REVIEW_DECISIONS, GateResult, PromotionContext, check_promotion, check_target,
    current_eval, rollback_target, summarize,
)
from llmreg.registry.resolve import DEFAULT_ENV, Resolved, check_env, env_and_stage, parse_at
from llmreg.registry.roles import Roles
from llmreg.registry.semver import diff_specs, next_version, parse_version, refuse_identical, version_key
from llmreg.registry.store.sql import CommitThenRaise, SQLStore, Txn

DEFAULT_CANARY_WEIGHT = 0.1
_UNSET: Any = object()
_monotonic = time.monotonic


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Artifact re-hash results: `checks` pairs each entry ref with its artifact checks."""

    ok: bool
    checks: tuple[tuple[str, ArtifactCheck], ...]

    def failures(self) -> list[tuple[str, ArtifactCheck]]:
        return [(ref, check) for ref, check in self.checks if not check.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [dict(check.to_dict(), entry=ref) for ref, check in self.checks]}


class Registry:
    """Facade over the SQL store, the artifact store and the pure lifecycle rules."""

    def __init__(self, store: SQLStore, artifacts: ArtifactStore, *, cache: bool = True,
                 refresh_interval: float = 0.5):
        self.store = store
        self.artifacts = artifacts
        self.cache_enabled = cache
        self.refresh_interval = float(refresh_interval)
        self._entries: dict[tuple[str, str], Entry] = {}
        self._last_registered: dict[str, Entry] = {}
        self._resolved: dict[tuple, Resolved] = {}
        self._pointer_hits: dict[tuple, tuple[tuple, Resolved]] = {}
        self._seen_seq = -1
        self._next_check = 0.0
        self._config: tuple[int, Roles, GatesConfig] | None = None

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
        return f"Registry({self.store.url.redacted()!r}, artifacts={self.artifacts.root!r})"

    # ================================================================== reads

    def _entry(self, name: str, version: str) -> Entry:
        key = (name, version)
        entry = self._entries.get(key)
        if entry is None:
            data = self.store.entry_data(name, version)
            if data is None:
                raise self._not_found(name, version)
            entry = Entry.from_dict(data)
            self._entries[key] = entry
        return entry

    def _not_found(self, name: str, version: str | None = None) -> NotFound:
        versions = self.store.versions(name)
        if not versions:
            known = self.store.names()
            hint = f"registered: {', '.join(known[:10])}" if known else "the registry is empty; register one first"
            return NotFound(f"no entry named {name!r} ({hint})")
        return NotFound(f"{name}@{version} is not registered (versions: {', '.join(versions[-10:])})")

    def get(self, name: str, version: str | None = None) -> Entry:
        """One entry; the latest version when `version` is None. 'name@version' works too."""
        if version is None and "@" in name:
            name, version = name.split("@", 1)
        if version is None:
            version = self.store.latest_version(name)
            if version is None:
                raise self._not_found(name)
        return self._entry(name, version)

    def versions(self, name: str) -> list[str]:
        """Versions of `name`, semver ascending; [] for an unknown name."""
        return self.store.versions(name)

    def names(self) -> list[str]:
        return self.store.names()

    def list_entries(self, name: str | None = None) -> list[Entry]:
        """The latest version of every name, or every version of `name`."""
        if name is not None:
            versions = self.store.versions(name)
            if not versions:
                raise self._not_found(name)
            return [self._entry(name, v) for v in versions]
        out = []
        for each in self.store.names():
            version = self.store.latest_version(each)
            if version is not None:
                out.append(self._entry(each, version))
        return out

    def status(self, name: str) -> dict[str, dict[str, str]]:
        """{env: {stage: version}} for the stages held now."""
        out: dict[str, dict[str, str]] = {}
        for pointer in self.store.pointers(name):
            out.setdefault(pointer.env, {})[pointer.stage] = pointer.version
        return out

    def pointers(self, name: str | None = None, env: str | None = None):
        """Stage pointers with canary weight, seq and time (what the gateway splits traffic on)."""
        return self.store.pointers(name, env)

    def stage_of(self, name: str, version: str, env: str = DEFAULT_ENV) -> str:
        """The version's status in env: development|staging|canary|production|retired|archived."""
        self._entry(name, version)
        state = self.store.state(name, version, env)
        return state[0] if state else "development"

    def head_seq(self) -> int:
        """The log's sequence number: changes whenever anything is written (one cheap query)."""
        return self.store.head_seq()

    def statuses(self, name: str, version: str) -> dict[str, str]:
        return {env: status for env, (status, _) in self.store.states_of_version(name, version).items()}

    def history(self, name: str, env: str | None = None) -> list[Event]:
        """Every event about `name` (optionally only those in `env`), oldest first."""
        return self.store.events(name=name, env=env)

    def events(self, after: int = 0, types: Collection[str] | None = None, name: str | None = None) -> Iterator[Event]:
        """Events with seq > after, in seq order (the pipeline's sensor cursor)."""
        return iter(self.store.events(after_seq=after, types=tuple(types) if types else None, name=name))

    def audit_log(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
                  types: Collection[str] | None = None, since: Any = None, until: Any = None,
                  limit: int | None = None, newest_first: bool = False) -> list[Event]:
        return self.store.events(name=name, version=version, env=env, types=tuple(types) if types else None,
                                 since_time=parse_at(since) if since is not None else None,
                                 until_time=parse_at(until) if until is not None else None,
                                 limit=limit, newest_first=newest_first)

    def verify_audit(self) -> AuditReport:
        """Walk the whole hash chain and check it ends at the head."""
        return self.store.verify_chain()

    def diff(self, ref_a: Any, ref_b: Any):
        """Field-level diff between two entries ('name@version', a file, an Entry or EntrySpec)."""
        return diff_specs(self._spec_of(ref_a), self._spec_of(ref_b))

    def _spec_of(self, ref: Any) -> EntrySpec:
        if isinstance(ref, Entry):
            return ref.spec
        if isinstance(ref, EntrySpec):
            return ref
        # Relative uris read as registration records them (absolute), so a diff against a file
        # shows what registering that file would change.
        if isinstance(ref, Mapping):
            return absolute_uris(parse_entry(ref)[0], None)
        text = os.fspath(ref)
        if os.path.isfile(text):
            return absolute_uris(load_entry_file(text)[0], os.path.dirname(os.path.abspath(text)))
        if "@" not in text:
            raise BadInput(f"ref: {text!r} is neither NAME@VERSION nor an entry file; e.g. support-triage@1.2.0",
                           field="ref")
        name, version = text.split("@", 1)
        return self.get(name, version).spec

    def roles(self) -> Roles:
        return self._load_config(self.store.head().config_seq)[1]

    def gates(self) -> GatesConfig:
        return self._load_config(self.store.head().config_seq)[2]

    @property
    def roles_configured(self) -> bool:
        return not self.roles().open_mode

    def lineage(self, name: str, version: str):
        from llmreg.registry.lineage import build_lineage

        entry = self._entry(name, version)
        return build_lineage(entry, [e.to_dict() for e in self.store.events(name=name, version=version)])

    def card(self, name: str, version: str) -> str:
        from llmreg.registry.card import render_card

        entry = self._entry(name, version)
        history = [e.to_dict() for e in self.store.events(name=name, version=version)]
        gates = self.gates()
        # The bound the fairness gate would apply, so the card and the gate agree.
        ctx = PromotionContext(entry=entry, env=DEFAULT_ENV, target="canary", actor=entry.author,
                               current_status="development", eval_records=tuple(self.store.eval_records(name, version)))
        suite = self._suite_settings(ctx)
        bound = gates.fairness_bound(entry.spec.gates, suite.get("suite_fairness_max_gap"), suite.get("suite_ref"))
        return render_card(entry, statuses=self.statuses(name, version), history=history, gates=gates,
                           fairness_bound=bound)

    # ================================================================== resolve

    def resolve(self, name: str, env: str = DEFAULT_ENV, *, stage: str | None = None, at: Any = None,
                verify: bool = False) -> Resolved:
        """The tuple holding `stage` (default production) of `env` now, or at time `at`.

        verify=True re-hashes the version's artifacts (every copy, on every call) and raises
        IntegrityError on a mismatch.
        """
        if at is None and self.cache_enabled:
            now = _monotonic()
            if now >= self._next_check:
                self._check_head(now)
            hit = self._resolved.get((name, env, stage))
            if hit is not None:
                if verify:  # re-hashed every time it is asked: the bytes may change under a warm cache
                    self._require_artifacts(hit.entry)
                return hit
        resolved = self._resolve(name, env, stage, at)
        if verify:
            self._require_artifacts(resolved.entry)
        if at is None and self.cache_enabled:
            self._resolved[(name, env, stage)] = resolved
        return resolved

    def _check_head(self, now: float) -> None:
        seq = self.store.head_seq()
        if seq != self._seen_seq:
            self._resolved.clear()
            self._seen_seq = seq
        self._next_check = now + self.refresh_interval

    def _invalidate(self, seq: int | None = None) -> None:
        self._resolved.clear()
        self._next_check = 0.0 if seq is None else _monotonic() + self.refresh_interval
        if seq is not None:
            self._seen_seq = seq

    def _resolve(self, name: str, env: str, stage: str | None, at: Any) -> Resolved:
        env, stage = env_and_stage(env, stage)
        if at is not None:
            moment = parse_at(at)
            held = self.store.stages_at(name, env, moment).get(stage)
            if held is None:
                raise self._nothing_holds(name, env, stage, moment)
            version, weight, seq, since = held
            return Resolved(name, version, env, stage, weight, seq, since, self._entry(name, version), at=moment)
        key = (name, env, stage)
        row = self.store.pointer(name, env, stage)
        if row is None:
            raise self._nothing_holds(name, env, stage, None)
        cached = self._pointer_hits.get(key)
        if cached is not None and cached[0] == row:
            return cached[1]
        version, weight, seq, since = row
        resolved = Resolved(name, version, env, stage, weight, seq, since, self._entry(name, version))
        self._pointer_hits[key] = (row, resolved)
        return resolved

    def _nothing_holds(self, name: str, env: str, stage: str, moment: str | None) -> NotFound:
        if not self.store.versions(name):
            return self._not_found(name)
        when = f" at {moment}" if moment else ""
        held = self.status(name)
        now = "; now: " + ", ".join(f"{e}/{s}={v}" for e, stages in held.items() for s, v in stages.items()) if held else ""
        return NotFound(f"{name}: nothing held {stage} in env {env!r}{when}{now}" if moment else
                        f"{name}: nothing holds {stage} in env {env!r}{now}; promote a version first "
                        f"(llmreg promote {name}@VERSION --to {stage} --env {env})")

    # ================================================================== verification

    @staticmethod
    def _pinned_files(spec: EntrySpec) -> list[tuple[str, ArtifactRef]]:
        return pinned_files(spec)

    @classmethod
    def _artifact_refs(cls, spec: EntrySpec) -> list[ArtifactRef]:
        return [ref for _, ref in cls._pinned_files(spec)]

    def _check_artifacts(self, entry: Entry) -> list[ArtifactCheck]:
        return [check for field, ref in self._pinned_files(entry.spec)
                for check in verify_copies(self.artifacts, ref, owner=entry.ref, field=field)]

    def _require_artifacts(self, entry: Entry) -> None:
        for check in self._check_artifacts(entry):
            if not check.ok:
                raise IntegrityError(check.detail)

    def _artifact_gate(self, entry: Entry) -> GateResult:
        checks = self._check_artifacts(entry)
        evidence = {"artifacts": [c.to_dict() for c in checks]}
        bad = [c for c in checks if not c.ok]
        if bad:
            return GateResult("artifact_integrity", False, "; ".join(c.detail for c in bad), evidence)
        if not checks:
            return GateResult("artifact_integrity", True, "no file artifacts to verify", evidence)
        return GateResult("artifact_integrity", True, f"{len(checks)} artifact(s) re-hashed, all match", evidence)

    def verify(self, name: str | None = None, version: str | None = None) -> VerifyReport:
        """Re-hash every artifact of one version, every version of `name`, or everything."""
        if name is not None and version is None and "@" in name:
            name, version = name.split("@", 1)
        if name is None:
            entries = [self._entry(n, v) for n in self.store.names() for v in self.store.versions(n)]
        elif version is None:
            entries = self.list_entries(name)
        else:
            entries = [self._entry(name, version)]
        checks = tuple((entry.ref, check) for entry in entries for check in self._check_artifacts(entry))
        return VerifyReport(all(check.ok for _, check in checks), checks)

    # ================================================================== writes: plumbing

    def _write(self, fn):
        try:
            return self.store.write(fn)
        finally:
            # The head this write left, when it committed; else ask the store.
            seq = self.store.committed_seq()
            self._invalidate(seq if seq is not None else self._head_seq_or_none())

    def _head_seq_or_none(self) -> int | None:
        try:
            return self.store.head_seq()
        except Exception:  # noqa: BLE001 - only used to refresh the cache marker
            return None

    def _load_config(self, config_seq: int) -> tuple[int, Roles, GatesConfig]:
        cached = self._config
        if cached is not None and cached[0] == config_seq:
            return cached
        roles_row = self.store.config("roles")
        gates_row = self.store.config("gates")
        roles = Roles.from_dict(roles_row[0]) if roles_row else Roles.open()
        gates = GatesConfig.from_dict(gates_row[0]) if gates_row else GatesConfig()
        self._config = (config_seq, roles, gates)
        return self._config

    def _refuse(self, txn: Txn, error: Exception, *, actor: str, action: str, name: str | None,
                version: str | None, env: str | None, evidence: Mapping | None = None) -> None:
        """Record the refused attempt, commit it, then raise `error`."""
        txn.append(ev.ACTION_REFUSED, actor=actor, name=name, version=version, env=env,
                   payload={"action": action, "reason": str(error), "error": type(error).__name__},
                   evidence=evidence or {})
        raise CommitThenRaise(error)

    def _authorize(self, txn: Txn, actor: str, action: str, *, name: str | None, version: str | None = None,
                   env: str | None = None) -> tuple[Roles, GatesConfig]:
        _, roles, gates = self._load_config(txn.head.config_seq)
        try:
            roles.check(actor, action)
        except Forbidden as exc:
            self._refuse(txn, exc, actor=actor, action=action, name=name, version=version, env=env)
        return roles, gates

    @staticmethod
    def _actor(actor: Any) -> str:
        if actor is None or actor == "":
            raise BadInput("actor: who is acting? pass actor=... (CLI: --actor NAME or LLMREG_ACTOR)", field="actor")
        return validate_actor(actor)

    # ================================================================== register

    def register(self, spec: Any, *, actor: str, bump: str | None = None, version: str | None = None,
                 import_history: bool = False, env: str = DEFAULT_ENV) -> Entry:
        """Register a new version of an entry (a path, YAML/JSON text, a mapping or an EntrySpec).

        The version is bumped from the diff against the latest version of the name; `bump`
        or `version` override it (recorded; never backwards, never reused). With
        import_history=True a file may carry version/status/approved_by from an existing
        history: that import is audited and needs the `configure` action.
        """
        actor = self._actor(actor)
        base_dir = None
        is_text = isinstance(spec, str) and ("\n" in spec or spec.lstrip().startswith("{"))
        if isinstance(spec, os.PathLike) or (isinstance(spec, str) and not is_text):
            base_dir = os.path.dirname(os.path.abspath(os.fspath(spec)))  # relative artifact uris start here
            parsed, assigned = load_entry_file(spec, import_history=import_history)
        else:
            parsed, assigned = parse_entry(spec, import_history=import_history)
        if bump is not None and bump not in ("major", "minor", "patch"):
            raise BadInput(f"bump: {bump!r} is not major, minor or patch", field="bump")
        if version is not None:
            parse_version(version, "version")
        if bump is not None and version is not None:
            raise BadInput("bump: give either a bump level or an explicit version, not both", field="bump")
        if assigned.get("version") is not None and (version is not None or bump is not None):
            raise BadInput("version: the imported file already sets version; drop --version/--bump", field="version")
        if assigned and not import_history:  # pragma: no cover - parse_entry refuses this already
            raise BadInput("version: assigned fields need import_history=True", field="version")
        if import_history:
            env = check_env(env)
        parsed = self._ingest(parsed, base_dir)
        name = parsed.name

        def write(txn: Txn) -> Entry:
            self._authorize(txn, actor, "configure" if import_history else "register", name=name, env=None)
            return self._register_in(txn, parsed, actor=actor, bump=bump, version=version, assigned=assigned,
                                     import_history=import_history, env=env)

        entry = self._write(write)
        # Kept for the next registration's diff only, replacing the one before: caching every
        # registered version would hold a bulk import in memory (and make the GC walk it).
        self._last_registered[name] = entry
        return entry

    def _register_in(self, txn: Txn, parsed: EntrySpec, *, actor: str, bump: str | None, version: str | None,
                     assigned: Mapping[str, Any], import_history: bool, env: str) -> Entry:
        """The registration itself, inside a write the caller authorized (shared with provider drafts)."""
        name = parsed.name
        latest = self.store.latest_version(name)
        previous = self._cached_entry(name, latest) if latest else None
        diff = diff_specs(previous.spec if previous else None, parsed)
        if previous is not None and diff.identical:
            refuse_identical(diff, name=name, latest=previous.version)
        wanted = assigned.get("version") or version
        # Only an explicit version can collide with history; a computed bump of the latest cannot
        # (and reading every version here made registration O(n) in the versions of a name).
        new_version = next_version(previous.version if previous else None, bump or diff.bump, override=wanted,
                                   existing=self.store.versions(name) if wanted else ())
        if import_history:
            kind, reason = "import", f"imported history (version {new_version} from the file)"
        elif previous is None:
            kind, reason = "initial", "first version"
        elif version is not None:
            kind, reason = "override", f"explicit version {version} (diff implies {diff.reason()})"
        elif bump is not None:
            kind = bump
            reason = diff.reason() if bump == diff.bump else f"explicit --bump {bump} (diff implies {diff.reason()})"
        else:
            kind, reason = diff.bump, diff.reason()
        entry = Entry(spec=parsed, version=new_version, author=actor, created_at=txn.time, seq=txn.next_seq,
                      bump=kind, bump_reason=reason,
                      previous=previous.version if previous else None)
        changes = [{"path": c.path, "level": c.level} for c in diff.changes] if previous else []
        # Encoded: the tuple's canonical text, built once for the digest, is reused by the event.
        txn.append(ev.ENTRY_REGISTERED, actor=actor, name=name, version=new_version,
                   payload=Encoded.of({"entry": entry.encoded(), "digest": parsed.digest, "changes": changes,
                                       "imported": {k: list(v) if isinstance(v, tuple) else v for k, v in assigned.items()}
                                       if import_history else None}))
        if import_history:
            self._import_status(txn, entry, assigned, env, actor)
        return entry

    def _cached_entry(self, name: str, version: str) -> Entry:
        """The entry from this process's caches (entries are immutable), read on a miss only."""
        last = self._last_registered.get(name)
        if last is not None and last.version == version:
            return last
        return self._entry(name, version)

    def _import_status(self, txn: Txn, entry: Entry, assigned: Mapping, env: str, actor: str) -> None:
        status = assigned.get("status")
        if status in (None, "development"):
            return
        imported = {"imported": True, "approved_by": list(assigned.get("approved_by", ()))}
        if status in ("staging", "canary", "production"):
            holder = self.store.pointer(entry.name, env, status)
            txn.append(ev.STAGE_PROMOTED, actor=actor, name=entry.name, version=entry.version, env=env,
                       payload={"stage": status, "from": "development", "displaced": holder[0] if holder else None,
                                "weight": DEFAULT_CANARY_WEIGHT if status == "canary" else None},
                       evidence=imported)
        elif status == "archived":
            txn.append(ev.STAGE_ARCHIVED, actor=actor, name=entry.name, version=entry.version, env=env,
                       payload={"from": "development"}, evidence=imported)
        elif status == "retired":
            raise BadInput("status: 'retired' cannot be imported on its own; import the version as production "
                           "and the later versions after it", field="status")

    def _ingest(self, spec: EntrySpec, base_dir: str | None) -> EntrySpec:
        """Read and check every pinned file (copied into the store when new); returns the spec
        to record, its relative uris made absolute against `base_dir`. Runs before the write
        transaction: slow I/O never holds the writer lock, and refused bytes are never stored."""
        return ingest(self.artifacts, spec, base_dir)

    # ================================================================== evals, suites, reviews, evidence

    def record_eval(self, name: str, version: str, report: Mapping[str, Any], *, actor: str) -> Event:
        """Attach an eval result; payload {"report": report as given, "eval": normalised EvalRef}.

        A report whose `target` names model/adapter digests that are not this version's is
        refused (Conflict, recorded as action.refused): it evaluated other bytes. The report's
        own verdict (`passed`, `failed_checks`) is kept for the staging gate.
        """
        actor = self._actor(actor)
        entry = self._entry(name, version)
        normalised = normalise_eval_report(report)
        check_verdict(report)
        mismatches = target_mismatches(entry.spec, report)

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "record_eval", name=name, version=version)
            if mismatches:
                run = normalised.get("run")
                self._refuse(txn, Conflict(f"eval {normalised['suite']} run {run} did not evaluate {entry.ref}: "
                                           f"{'; '.join(mismatches)}; evaluate this version's artifacts and record "
                                           "that report"),
                             actor=actor, action="record_eval", name=name, version=version, env=None)
            return txn.append(ev.EVAL_RECORDED, actor=actor, name=name, version=version,
                              payload={"report": dict(report), "eval": normalised})
        return self._write(write)

    def register_suite(self, name: str, version: str, threshold: float | None, definition: Mapping[str, Any] | None = None,
                       *, actor: str) -> Event | None:
        """Register an eval suite version and its threshold (the staging gate reads it).

        Suite versions are immutable: the same content again is a no-op (None), different
        content for a registered version is a Conflict.
        """
        actor = self._actor(actor)
        name = as_token(name, "suite")
        version = as_token(str(version) if isinstance(version, (int, float)) else version, "version", max_len=128)
        threshold = as_number(threshold, "threshold", lo=0.0, hi=1.0, optional=True)
        definition = dict(definition or {})
        from llmreg.registry.canonical import canonical_json

        canonical_json(definition)  # refuses NaN and non-JSON values up front
        suite_fairness_max_gap(definition, strict=True)  # the fairness gate reads it: refuse a bad bound now

        def write(txn: Txn) -> Event | None:
            self._authorize(txn, actor, "configure", name=name, version=version)
            existing = self.store.suite(name, version)
            if existing is not None:
                same = existing["threshold"] == threshold and existing["definition"] == json.loads(canonical_json(definition))
                if same:
                    return None
                raise Conflict(f"suite {name}@{version} is already registered with different content; "
                               "suite versions are immutable, register a new version")
            return txn.append(ev.SUITE_REGISTERED, actor=actor, name=name, version=version,
                              payload={"threshold": threshold, "definition": definition})
        return self._write(write)

    def review(self, name: str, version: str, env: str = DEFAULT_ENV, *, actor: str, decision: str = "approve",
               notes: str = "") -> Event:
        """A human review of the eval results (the staging -> canary gate)."""
        actor = self._actor(actor)
        env = check_env(env)
        if decision not in REVIEW_DECISIONS:
            raise BadInput(f"decision: {decision!r} is not one of {', '.join(REVIEW_DECISIONS)}", field="decision")
        notes = as_str(notes, "notes", optional=True, max_len=5000, allow_control=True) or "" if notes else ""
        entry = self._entry(name, version)

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "approve:canary", name=name, version=version, env=env)
            if actor == entry.author and decision != "comment":
                self._refuse(txn, Refused(f"{actor} is the author of {entry.ref}; authors cannot review their own "
                                          "release, ask another reviewer"),
                             actor=actor, action="approve:canary", name=name, version=version, env=env)
            return txn.append(ev.REVIEW_RECORDED, actor=actor, name=name, version=version, env=env,
                              payload={"decision": decision, "notes": notes})
        return self._write(write)

    def approve(self, name: str, version: str, stage: str = "production", env: str = DEFAULT_ENV, *, actor: str,
                withdraw: bool = False) -> Event:
        """Sign off (or withdraw a sign-off) for production; two distinct non-authors are needed."""
        actor = self._actor(actor)
        env = check_env(env)
        if stage == "canary":
            raise BadInput(f"stage: canary is approved by a review of the eval results; run "
                           f"`llmreg review {name}@{version} --env {env}` instead", field="stage")
        if stage != "production":
            raise BadInput(f"stage: approvals are collected for production (got {stage!r}); staging needs an eval "
                           "above threshold, canary a review", field="stage")
        entry = self._entry(name, version)

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "approve:production", name=name, version=version, env=env)
            mine = [a for a in self.store.approvals(name, version, env, stage=stage) if a["actor"] == actor]
            if withdraw:
                if not mine:
                    raise NotFound(f"{actor} has no approval of {entry.ref} for {stage} in {env} to withdraw")
                return txn.append(ev.APPROVAL_WITHDRAWN, actor=actor, name=name, version=version, env=env,
                                  payload={"stage": stage})
            if actor == entry.author:
                self._refuse(txn, Refused(f"{actor} is the author of {entry.ref}; production needs two approvers "
                                          "other than the author, ask someone else"),
                             actor=actor, action="approve:production", name=name, version=version, env=env)
            if mine:
                raise Conflict(f"{actor} already approved {entry.ref} for {stage} in {env}; one approval per person")
            return txn.append(ev.APPROVAL_GRANTED, actor=actor, name=name, version=version, env=env,
                              payload={"stage": stage})
        return self._write(write)

    def record_evidence(self, name: str, version: str, env: str, kind: str, data: Mapping[str, Any], *,
                        actor: str) -> Event:
        """Evidence for a gate, e.g. kind "canary_slo" {error_rate, p99_ms, calls[, eval_score]}."""
        actor = self._actor(actor)
        env = check_env(env)
        kind, data = normalise_evidence(kind, data)
        self._entry(name, version)

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "record_evidence", name=name, version=version, env=env)
            return txn.append(ev.EVIDENCE_RECORDED, actor=actor, name=name, version=version, env=env,
                              payload={"kind": kind, "data": data})
        return self._write(write)

    def record_gate_failure(self, name: str, version: str, stage: str, env: str = DEFAULT_ENV, *, actor: str,
                            detail: str, evidence: Mapping[str, Any] | None = None,
                            gate: str = "eval_threshold") -> Event:
        """Record a gate that failed outside a promotion (e.g. the eval sensor's verdict)."""
        actor = self._actor(actor)
        env = check_env(env)
        check_target(stage)
        detail = as_str(detail, "detail", max_len=2000)
        self._entry(name, version)

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "record_eval", name=name, version=version, env=env)
            return txn.append(ev.GATE_FAILED, actor=actor, name=name, version=version, env=env,
                              payload={"target": stage, "gate": gate, "passed": False, "detail": detail},
                              evidence=dict(evidence or {}))
        return self._write(write)

    # ================================================================== promote, archive, rollback

    def promote(self, name: str, version: str, stage: str, env: str = DEFAULT_ENV, *, actor: str,
                evidence: Mapping[str, Any] | None = None, weight: float | None = None, expect: Any = _UNSET) -> Event:
        """Move `version` to `stage` in `env` if every gate passes.

        `expect` is the version the caller believes holds `stage` now (default: read here);
        if another writer changed it first, this raises Conflict (optimistic concurrency).
        evidence: attached to the promotion; with a "kind" key (e.g. canary_slo) it is also
        recorded as gate evidence before the gates are checked.
        """
        actor = self._actor(actor)
        env = check_env(env)
        if stage == "archived":
            return self.archive(name, version, env, actor=actor, evidence=evidence)
        check_target(stage)
        if weight is not None:
            if stage != "canary":
                raise BadInput(f"weight: only a canary takes a traffic weight (not {stage})", field="weight")
            weight = as_number(weight, "weight", lo=0.0, hi=1.0)
            if weight <= 0.0:
                raise BadInput("weight: a canary needs a traffic share above 0 (e.g. 0.05)", field="weight")
        elif stage == "canary":
            weight = DEFAULT_CANARY_WEIGHT
        attached, gate_evidence = split_promotion_evidence(evidence)
        entry = self._entry(name, version)
        if expect is _UNSET:
            row = self.store.pointer(name, env, stage)
            expect = row[0] if row else None
        integrity = self._artifact_gate(entry) if stage in ("canary", "production") else None

        def write(txn: Txn) -> Event:
            action = f"promote:{stage}"
            _, gates = self._authorize(txn, actor, action, name=name, version=version, env=env)
            self._check_holder(txn, name, version, env, stage, expect, actor, action)
            provisional = ()
            if gate_evidence is not None:
                provisional = ({"kind": gate_evidence[0], "data": gate_evidence[1], "actor": actor,
                                "seq": txn.next_seq},)
            ctx = self._context(entry, env, stage, actor, gates, provisional)
            results = list(check_promotion(ctx))
            if integrity is not None:
                results.append(integrity)
            failed = [r for r in results if not r.passed]
            if not failed and gate_evidence is not None:
                txn.append(ev.EVIDENCE_RECORDED, actor=actor, name=name, version=version, env=env,
                           payload={"kind": gate_evidence[0], "data": gate_evidence[1]})
            self._record_gates(txn, results, stage, actor, name, version, env, attached)
            if failed:
                raise CommitThenRaise(_gate_error(results))
            holder = self.store.pointer(name, env, stage)
            return txn.append(ev.STAGE_PROMOTED, actor=actor, name=name, version=version, env=env,
                              payload={"stage": stage, "from": ctx.current_status,
                                       "displaced": holder[0] if holder else None, "weight": weight},
                              evidence=_promotion_evidence(results, ctx, attached))
        return self._write(write)

    def archive(self, name: str, version: str, env: str = DEFAULT_ENV, *, actor: str,
                evidence: Mapping[str, Any] | None = None) -> Event:
        """Archive a version in env: never the production holder (a replacement must hold production)."""
        actor = self._actor(actor)
        env = check_env(env)
        attached, gate_evidence = split_promotion_evidence(evidence)
        entry = self._entry(name, version)

        def write(txn: Txn) -> Event:
            _, gates = self._authorize(txn, actor, "archive", name=name, version=version, env=env)
            provisional = ()
            if gate_evidence is not None:
                provisional = ({"kind": gate_evidence[0], "data": gate_evidence[1], "actor": actor,
                                "seq": txn.next_seq},)
            ctx = self._context(entry, env, "archived", actor, gates, provisional)
            results = list(check_promotion(ctx))
            failed = [r for r in results if not r.passed]
            if not failed and gate_evidence is not None:
                txn.append(ev.EVIDENCE_RECORDED, actor=actor, name=name, version=version, env=env,
                           payload={"kind": gate_evidence[0], "data": gate_evidence[1]})
            self._record_gates(txn, results, "archived", actor, name, version, env, attached)
            if failed:
                raise CommitThenRaise(_gate_error(results))
            return txn.append(ev.STAGE_ARCHIVED, actor=actor, name=name, version=version, env=env,
                              payload={"from": ctx.current_status},
                              evidence=_promotion_evidence(results, ctx, attached))
        return self._write(write)

    def rollback(self, name: str, env: str = DEFAULT_ENV, *, actor: str, to: str | None = None,
                 reason: str = "", evidence: Mapping[str, Any] | None = None, stage: str = "production") -> Event:
        """Put an earlier production version back in production, in one audited event.

        Default target: the newest version below the current holder that held production in
        env (so repeated rollbacks keep going back); `to` picks any former production version.
        stage="canary" pulls the canary instead: its version leaves the canary stage (back to
        development, not archived) and no other version takes its place.
        `evidence` (e.g. the SLO figures that triggered it) is kept on the event.
        """
        actor = self._actor(actor)
        env = check_env(env)
        reason = as_str(reason, "reason", optional=True, max_len=2000) or "" if reason else ""
        attached, _ = split_promotion_evidence(evidence)
        if stage == "canary":
            if to is not None:
                raise BadInput("to: pulling a canary restores nothing; leave out --to", field="to")
            return self._pull_canary(name, env, actor=actor, reason=reason, attached=attached)
        if stage != "production":
            raise BadInput(f"stage: rollback applies to production (or canary to pull a canary), not {stage!r}",
                           field="stage")
        if to is not None:
            parse_version(to, "to")
        try:
            current, target = self._rollback_plan(name, env, to)
            plan_error = None
        except NotFound:
            raise  # an unknown name is a bad reference, not a refused rollback
        except Refused as exc:
            current = target = None
            plan_error = exc
        integrity = self._artifact_gate(self._entry(name, target)) if target else None

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "rollback", name=name, version=to, env=env)
            if plan_error is not None:
                self._refuse(txn, plan_error, actor=actor, action="rollback", name=name, version=to, env=env)
            try:
                now_current, now_target = self._rollback_plan(name, env, to)
            except Refused as exc:
                self._refuse(txn, exc, actor=actor, action="rollback", name=name, version=to, env=env)
            if (now_current, now_target) != (current, target):
                self._refuse(txn, Conflict(f"{name}: production in {env} changed to {now_current} while rolling back "
                                           f"from {current}; check `llmreg resolve` and retry"),
                             actor=actor, action="rollback", name=name, version=target, env=env)
            if not integrity.passed:
                self._record_gates(txn, [integrity], "production", actor, name, target, env, attached)
                raise CommitThenRaise(IntegrityError(integrity.detail))
            kept = {"artifacts": integrity.evidence.get("artifacts", []), "artifact_integrity": integrity.detail}
            if attached:
                kept["attached"] = attached
            return txn.append(ev.STAGE_ROLLED_BACK, actor=actor, name=name, version=target, env=env,
                              payload={"stage": "production", "from": current, "reason": reason}, evidence=kept)
        return self._write(write)

    def _pull_canary(self, name: str, env: str, *, actor: str, reason: str, attached: Mapping) -> Event:
        row = self.store.pointer(name, env, "canary")
        if row is None and not self.store.versions(name):
            raise self._not_found(name)
        observed = row[0] if row else None

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "rollback", name=name, version=observed, env=env)
            now = self.store.pointer(name, env, "canary")
            holder = now[0] if now else None
            if holder is None:
                self._refuse(txn, Refused(f"{name}: nothing holds canary in env {env!r}; nothing to pull"),
                             actor=actor, action="rollback", name=name, version=None, env=env)
            if holder != observed:
                self._refuse(txn, Conflict(f"{name}: canary in {env} changed from {observed} to {holder} while "
                                           "pulling it; check and retry"),
                             actor=actor, action="rollback", name=name, version=holder, env=env)
            return txn.append(ev.STAGE_ROLLED_BACK, actor=actor, name=name, version=holder, env=env,
                              payload={"stage": "canary", "from": holder, "reason": reason},
                              evidence={"attached": dict(attached)} if attached else {})
        return self._write(write)

    def _rollback_plan(self, name: str, env: str, to: str | None) -> tuple[str | None, str | None]:
        """(current production holder, version to restore); Refused when there is none."""
        row = self.store.pointer(name, env, "production")
        if row is None:
            if not self.store.versions(name):
                raise self._not_found(name)
            raise Refused(f"{name}: nothing holds production in env {env!r}; nothing to roll back")
        current = row[0]
        held = [v for v, e, _, was in self.store.states_of_name(name) if e == env and was]
        held.sort(key=version_key)
        if to is not None:
            return current, rollback_target(held, current, to)
        older = [v for v in held if version_key(v) < version_key(current)]
        try:
            return current, rollback_target(older, current)
        except Refused:
            raise Refused(f"{name}: no production version older than {current} in env {env!r} "
                          f"(held production: {', '.join(held) or 'none'}); pass --to VERSION") from None

    def _check_holder(self, txn: Txn, name: str, version: str, env: str, stage: str, expect: Any, actor: str,
                      action: str) -> None:
        row = self.store.pointer(name, env, stage)
        holder = row[0] if row else None
        if holder != expect:
            self._refuse(txn, Conflict(
                f"{name}: {stage} in {env} changed from {expect or 'nothing'} to {holder or 'nothing'} while "
                f"promoting {version}; another promotion won the race, check `llmreg resolve {name} --env {env} "
                f"--stage {stage}` and retry"), actor=actor, action=action, name=name, version=version, env=env)

    def _context(self, entry: Entry, env: str, target: str, actor: str, gates: GatesConfig,
                 provisional: tuple = ()) -> PromotionContext:
        name, version = entry.name, entry.version
        state = self.store.state(name, version, env)
        production = self.store.pointer(name, env, "production")
        ctx = PromotionContext(
            entry=entry, env=env, target=target, actor=actor,
            current_status=state[0] if state else "development",
            production_holder=production[0] if production else None,
            reviews=tuple(self.store.reviews(name, version, env)),
            approvals=tuple(self.store.approvals(name, version, env, stage=target)),
            evidence=tuple(self.store.evidence(name, version, env)) + tuple(provisional),
            eval_records=tuple(self.store.eval_records(name, version)),
            gates=gates,
        )
        settings = self._suite_settings(ctx)
        return dataclasses.replace(ctx, **settings) if settings else ctx

    def _suite_settings(self, ctx: PromotionContext) -> dict[str, Any]:
        """What the registered suite of the eval being judged sets: threshold, fairness bound, its ref."""
        data, _ = current_eval(ctx)
        if not data or not data.get("suite"):
            return {}
        suite = self.store.suite(data["suite"], data.get("suite_version"))
        if suite is None:
            return {}
        settings: dict[str, Any] = {"suite_ref": f"{suite['name']}@{suite['version']}"}
        if suite["threshold"] is not None:
            settings["suite_threshold"] = suite["threshold"]
        gap = suite_fairness_max_gap(suite["definition"])
        if gap is not None:
            settings["suite_fairness_max_gap"] = gap
        return settings

    @staticmethod
    def _record_gates(txn: Txn, results: Sequence[GateResult], target: str, actor: str, name: str, version: str,
                      env: str, attached: Mapping) -> None:
        for result in results:
            evidence = dict(result.evidence)
            if attached:
                evidence["attached"] = dict(attached)
            txn.append(ev.GATE_PASSED if result.passed else ev.GATE_FAILED, actor=actor, name=name, version=version,
                       env=env, payload={"target": target, "gate": result.gate, "passed": result.passed,
                                         "detail": result.detail},
                       evidence=evidence)

    # ================================================================== configuration

    def configure_roles(self, roles: Any, *, actor: str) -> Event:
        """Replace the roles (a mapping, a Roles, or a roles.yaml path); audited as config.roles."""
        actor = self._actor(actor)
        if isinstance(roles, (str, os.PathLike)):
            parsed = Roles.from_file(roles)
        elif isinstance(roles, Roles):
            parsed = roles
        else:
            parsed = Roles.from_dict(roles)
        if not parsed.open_mode and not any(parsed.allows(member, "configure") for member in parsed.members):
            raise BadInput("roles: no member would hold `configure`, so nobody could change roles again; "
                           "give someone a role with configure (e.g. admin: ['*'])", field="roles")

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "configure", name=None)
            return txn.append(ev.CONFIG_ROLES, actor=actor, payload={"roles": parsed.to_dict()})
        return self._write(write)

    def configure_gates(self, gates: Any, *, actor: str) -> Event:
        """Replace the gates config (a mapping, a GatesConfig or a gates.yaml path); audited."""
        actor = self._actor(actor)
        if isinstance(gates, (str, os.PathLike)):
            parsed = GatesConfig.from_file(gates)
        elif isinstance(gates, GatesConfig):
            parsed = gates
        else:
            parsed = GatesConfig.from_dict(gates)

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, "configure", name=None)
            return txn.append(ev.CONFIG_GATES, actor=actor, payload={"gates": parsed.to_dict()})
        return self._write(write)

    # ================================================================== provider snapshots

    def provider_log(self, provider: str | None = None, family: str | None = None) -> list:
        """The provider change log: one `registry.providers.SnapshotRecord` per snapshot seen."""
        from llmreg.registry import providers as pv

        return pv.change_log(self._provider_records(), provider=provider, family=family)

    def provider_snapshot(self, provider: str, snapshot: str):
        """One snapshot's record; NotFound when the registry never saw it."""
        from llmreg.registry import providers as pv

        record = self._provider_records().get(pv.snapshot_key(provider, snapshot))
        if record is None:
            raise NotFound(f"{pv.snapshot_key(provider, snapshot)} has not been seen; run `llmreg providers discover`")
        return record

    def provider_discovery(self) -> dict:
        """{provider: DiscoveryRecord}: the last recorded state of each provider's model list."""
        from llmreg.registry import providers as pv

        return pv.fold_discovery(self.store.events(types=(pv.PROVIDER_DISCOVERY,)))

    def _provider_records(self) -> dict:
        from llmreg.registry import providers as pv

        return pv.fold(self.store.events(types=(pv.PROVIDER_SNAPSHOT,)))

    def record_provider_discovery(self, provider: str, models: Sequence[Mapping[str, Any]], *, actor: str,
                                  families: Collection[str] | None = None, base_url: str | None = None) -> list[Event]:
        """Record what a provider's model list shows now, in one transaction.

        `models`: the followed snapshots listed now, each {snapshot, family, deprecation_date,
        shutdown_date, info}. New ones are `seen`, returning ones `relisted`, changed dates
        `deprecated`; this provider's recorded snapshots (of `families`, default all) that are
        no longer listed are `delisted`; a recovered provider gets `provider.discovery` ok.
        Already-recorded state writes nothing, so repeated discoveries are idempotent.
        """
        from llmreg.registry import providers as pv

        actor = self._actor(actor)
        provider = pv.check_provider(provider)
        wanted: dict[str, dict[str, Any]] = {}
        for index, model in enumerate(models):
            if not isinstance(model, Mapping):
                raise BadInput(f"models[{index}]: expected a mapping {{snapshot, family, ...}}", field=f"models[{index}]")
            unknown = set(model) - {"snapshot", "family", "deprecation_date", "shutdown_date", "info"}
            if unknown:
                raise BadInput(f"models[{index}].{sorted(unknown)[0]}: unknown field; allowed: snapshot, family, "
                               "deprecation_date, shutdown_date, info", field=f"models[{index}]")
            try:
                payload = pv.snapshot_payload(provider, model.get("snapshot"), pv.SEEN, **{
                    k: v for k, v in model.items() if k != "snapshot"})
            except BadInput as exc:
                raise BadInput(f"models[{index}].{exc}", field=f"models[{index}].{exc.field}") from None
            wanted[payload["snapshot"]] = payload
        families = None if families is None else {str(f) for f in families}

        def write(txn: Txn) -> list[Event]:
            self._authorize(txn, actor, "record_evidence", name=None)
            records = self._provider_records()
            appended: list[Event] = []

            def add(payload: Mapping[str, Any]) -> None:
                appended.append(txn.append(ev.PROVIDER_SNAPSHOT, actor=actor, payload=payload))

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
                if (record.provider == provider and record.listed and record.snapshot not in wanted
                        and (families is None or record.family in families)):
                    add({"provider": provider, "snapshot": record.snapshot, "status": pv.DELISTED})
            last = self.provider_discovery().get(provider)
            if last is not None and not last.ok:
                appended.append(txn.append(pv.PROVIDER_DISCOVERY, actor=actor, payload=pv.discovery_payload(
                    provider, True, base_url=base_url, listed=len(wanted))))
            return appended
        return self._write(write)

    def record_provider_failure(self, provider: str, error: str, *, actor: str,
                                base_url: str | None = None) -> Event | None:
        """A provider's model list could not be read (timeout, 5xx, malformed JSON).

        Recorded when it is news (first failure, or a different error); None otherwise.
        """
        from llmreg.registry import providers as pv

        actor = self._actor(actor)
        payload = pv.discovery_payload(provider, False, error=error, base_url=base_url)

        def write(txn: Txn) -> Event | None:
            self._authorize(txn, actor, "record_evidence", name=None)
            last = self.provider_discovery().get(payload["provider"])
            if last is not None and not last.ok and last.error == payload["error"]:
                return None
            return txn.append(pv.PROVIDER_DISCOVERY, actor=actor, payload=payload)
        return self._write(write)

    def record_provider_snapshot(self, provider: str, snapshot: str, status: str, *, actor: str,
                                 report: Mapping[str, Any] | None = None, drafts: Sequence[Any] = (),
                                 **fields: Any) -> Event:
        """Append one step of a snapshot's life (see llmreg/registry/providers.py for the statuses).

        fields: family, suite ("name@version"), run, score, passed, failed_checks, detail,
        deprecation_date, shutdown_date, info, trigger. `report` (the eval report) is kept as
        the event's evidence. `drafts` (EntrySpecs or mappings, only with status qualified)
        are registered in the same transaction with a major bump, the report recorded as
        each one's eval, and their refs kept on the event: the verdict and its drafts land
        together or not at all.
        """
        from llmreg.registry import providers as pv
        from llmreg.registry.canonical import canonical_json
        from llmreg.registry.fields import freeze, thaw

        actor = self._actor(actor)
        payload = pv.snapshot_payload(provider, snapshot, status, **fields)
        evidence: dict[str, Any] = {}
        if report is not None:
            if not isinstance(report, Mapping):
                raise BadInput(f"report: expected a mapping (the eval report), got {type(report).__name__}",
                               field="report")
            evidence["report"] = thaw(freeze(dict(report), "report"))
            canonical_json(evidence)
        specs: list[EntrySpec] = []
        normalised: dict[str, Any] | None = None
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
                specs.append(self._ingest(spec, None))
        action = "record_evidence" if status in (pv.SEEN,) + pv.NOTES else "record_eval"

        def write(txn: Txn) -> Event:
            self._authorize(txn, actor, action, name=None)
            record = self._provider_records().get(pv.snapshot_key(payload["provider"], payload["snapshot"]))
            try:
                pv.check_transition(record, payload)
            except Refused as exc:
                self._refuse(txn, exc, actor=actor, action=action, name=None, version=None, env=None)
            for spec in specs:  # every check before the first append: a refusal commits only itself
                self._authorize(txn, actor, "register", name=spec.name)
            final = dict(payload)
            refs = []
            for spec in specs:
                entry = self._register_in(txn, spec, actor=actor, bump="major", version=None, assigned={},
                                          import_history=False, env=DEFAULT_ENV)
                txn.append(ev.EVAL_RECORDED, actor=actor, name=entry.name, version=entry.version,
                           payload={"report": evidence["report"], "eval": normalised})
                refs.append(entry.ref)
            if refs:
                final["drafts"] = refs
            return txn.append(ev.PROVIDER_SNAPSHOT, actor=actor, payload=final, evidence=evidence)
        return self._write(write)

    # ================================================================== maintenance

    def rebuild_projection(self) -> int:
        """Replay the log into fresh projection tables (the log is the source of truth)."""
        try:
            return self.store.rebuild_projection()
        finally:
            self._entries.clear()
            self._pointer_hits.clear()
            self._config = None
            self._invalidate(self._head_seq_or_none())


# ---------------------------------------------------------------------- helpers (pure)

_SLO_NUMBERS = {"error_rate": (0.0, 1.0), "p99_ms": (0.0, None), "calls": (0.0, None), "eval_score": (0.0, 1.0)}
_SLO_REQUIRED = ("error_rate", "p99_ms", "calls")


def normalise_evidence(kind: Any, data: Any) -> tuple[str, dict[str, Any]]:
    kind = as_token(kind, "kind", max_len=64)
    if not isinstance(data, Mapping):
        raise BadInput(f"data: evidence must be a mapping (key: value), got {type(data).__name__}", field="data")
    from llmreg.registry.canonical import canonical_json
    from llmreg.registry.fields import freeze, thaw

    data = thaw(freeze(data, "data"))
    canonical_json(data)
    if kind == EVIDENCE_CANARY_SLO:
        for key in _SLO_REQUIRED:
            if key not in data:
                raise BadInput(f"data.{key}: canary_slo evidence needs {', '.join(_SLO_REQUIRED)} "
                               "(e.g. {error_rate: 0.004, p99_ms: 640, calls: 1200})", field=f"data.{key}")
        for key, (lo, hi) in _SLO_NUMBERS.items():
            if key in data:
                as_number(data[key], f"data.{key}", lo=lo, hi=hi)
    return kind, data


def split_promotion_evidence(evidence: Any) -> tuple[dict[str, Any], tuple[str, dict] | None]:
    """(attached, gate_evidence): a mapping with "kind" is also gate evidence {kind, data}."""
    if evidence is None:
        return {}, None
    if not isinstance(evidence, Mapping):
        raise BadInput(f"evidence: expected a mapping, got {type(evidence).__name__}", field="evidence")
    evidence = dict(evidence)
    if "kind" not in evidence:
        from llmreg.registry.fields import freeze, thaw

        return thaw(freeze(evidence, "evidence")), None
    data = evidence.get("data")
    if data is None:
        data = {k: v for k, v in evidence.items() if k != "kind"}
    kind, data = normalise_evidence(evidence["kind"], data)
    return {"kind": kind, "data": data}, (kind, data)


def _gate_error(results: Sequence[GateResult]) -> Refused:
    bad_integrity = [r for r in results if r.gate == "artifact_integrity" and not r.passed]
    if bad_integrity:
        others = [r for r in results if not r.passed and r.gate != "artifact_integrity"]
        extra = f"; also: {summarize(others)}" if others else ""
        return IntegrityError(bad_integrity[0].detail + extra)
    return GateFailed(summarize(results), tuple(results))


def _promotion_evidence(results: Sequence[GateResult], ctx: PromotionContext, attached: Mapping) -> dict[str, Any]:
    """What the promotion event keeps: each gate's verdict, the approvers and reviewers."""
    reviews = [r for r in ctx.reviews if r.get("decision") == "approve"]
    out = {
        "gates": [{"gate": r.gate, "detail": r.detail} for r in results],
        "approvers": sorted({a["actor"] for a in ctx.approvals}),
        "reviewers": sorted({r["actor"] for r in reviews}),
    }
    if attached:
        out["attached"] = dict(attached)
    return out
