"""The read side: entries, versions, stage holders, statuses, the log, cards and lineage.

Reads go to the store's projection. Entries are immutable, so the ones read are cached
(bounded); nothing here writes.
"""
from __future__ import annotations

from llmreg.registry.errors import NotFound
from llmreg.registry.resolve import DEFAULT_ENV, Resolved, parse_at

TYPE_CHECKING = False  # the value objects (spec.py, roles, gates) load on first use: `llmreg resolve` never needs them
if TYPE_CHECKING:
    from typing import Any, Collection

    from llmreg.registry.entry import Entry, EntrySpec
    from llmreg.registry.events import Event
    from llmreg.registry.gates_config import GatesConfig
    from llmreg.registry.roles import Roles
    from llmreg.registry.store.port import Pointer, Reads, Store

_ALL = 2**62  # "no limit" that SQLite and PostgreSQL both take as a LIMIT
ENTRY_CACHE_SIZE = 4096  # entries kept by the read side; a bulk listing must not grow memory without bound


class NameStatus(dict):
    """{env: {stage: version}} for the stages held now, plus every version's status per env.

    `of(version, env)`: development|staging|canary|production|retired|archived.
    """

    def __init__(self, pointers: list[Pointer], states: list[tuple[str, str, str, bool]]):
        super().__init__()
        for pointer in pointers:
            self.setdefault(pointer.env, {})[pointer.stage] = pointer.version
        self.pointers = pointers
        self.versions: dict[str, dict[str, str]] = {}
        for version, env, status, _ in states:
            self.versions.setdefault(version, {})[env] = status

    def of(self, version: str, env: str = DEFAULT_ENV) -> str:
        return self.versions.get(version, {}).get(env, "development")


class Queries:
    """Read-side queries over a store; `entry()` is the one place stored entries are read."""

    def __init__(self, store: Store):
        self.store = store
        self._entries: dict[tuple[str, str], Entry] = {}
        self._config: tuple[int, Roles, GatesConfig] | None = None

    # ------------------------------------------------------------------ entries

    def entry(self, name: str, version: str, reads: Reads | None = None) -> Entry:
        """A stored entry; `reads` a unit of work to read inside its transaction."""
        entry = self._entries.get((name, version))
        if entry is None:
            entry = self._built(name, version, self._entry_data(name, version, reads))
        return entry

    def _entry_data(self, name: str, version: str, reads: Reads | None = None) -> dict:
        data = (reads or self.store).entry_data(name, version)
        if data is None:
            raise self.not_found(name, version)
        return data

    def _built(self, name: str, version: str, data: dict) -> Entry:
        from llmreg.registry.spec import Entry

        entry = Entry.from_dict(data)
        if len(self._entries) >= ENTRY_CACHE_SIZE:
            self._entries.clear()
        self._entries[(name, version)] = entry
        return entry

    def forget(self) -> None:
        self._entries.clear()
        self._config = None

    def not_found(self, name: str, version: str | None = None) -> NotFound:
        versions = self.store.versions(name)
        if not versions:
            known = self.store.names()
            hint = f"registered: {', '.join(known[:10])}" if known else "the registry is empty; register one first"
            return NotFound(f"no entry named {name!r} ({hint})")
        return NotFound(f"{name}@{version} is not registered (versions: {', '.join(versions[-10:])})")

    def get(self, name: str, version: str | None = None) -> Entry:
        if version is None and "@" in name:
            name, version = name.split("@", 1)
        if version is None:
            version = self.store.latest_version(name)
            if version is None:
                raise self.not_found(name)
        return self.entry(name, version)

    def list_entries(self, name: str | None = None) -> list[Entry]:
        if name is not None:
            versions = self.store.versions(name)
            if not versions:
                raise self.not_found(name)
            return [self.entry(name, v) for v in versions]
        out = []
        for each in self.store.names():
            version = self.store.latest_version(each)
            if version is not None:
                out.append(self.entry(each, version))
        return out

    def version_page(self, name: str, limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """(rows, total): one page of `name`'s versions for listing, semver ascending, read as
        stored (no Entry built, nothing re-validated, nothing cached). limit None: all."""
        rows, total = self.version_rows(name, limit, offset)
        return [{"version": v, "created_at": c, "author": a, "bump": b, "bump_reason": r or ""}
                for v, c, a, b, r in rows], total

    def version_rows(self, name: str, limit: int | None = None, offset: int = 0) -> tuple[list, int]:
        """(stored rows (version, created_at, author, bump, bump_reason), total) of one page."""
        total = self.store.version_count(name)
        if not total:
            raise self.not_found(name)
        return self.store.version_rows(name, _ALL if limit is None else limit, offset), total

    def name_page(self, limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """(rows, total): one page of names with their latest version, version count and model."""
        total = self.store.name_count()
        rows = self.store.name_rows(_ALL if limit is None else limit, offset) if total else []
        return [{"name": n, "latest": v, "versions": c, "model": m} for n, v, c, m in rows], total

    def spec_of(self, ref: Entry | EntrySpec | str) -> EntrySpec:
        from llmreg.registry.spec import Entry, EntrySpec

        if isinstance(ref, Entry):
            return ref.spec
        if isinstance(ref, EntrySpec):
            return ref
        return self.get(ref).spec

    def diff(self, a: Entry | EntrySpec | str, b: Entry | EntrySpec | str):
        from llmreg.registry.semver import diff_specs

        return diff_specs(self.spec_of(a), self.spec_of(b))

    # ------------------------------------------------------------------ stages and the log

    def status(self, name: str) -> NameStatus:
        return NameStatus(self.store.pointers(name), self.store.states_of_name(name))

    def events(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
               types: Collection[str] | None = None, after: int | None = None, since: Any = None,
               until: Any = None, limit: int | None = None, newest_first: bool = False) -> list[Event]:
        return self.store.events(name=name, version=version, env=env, types=tuple(types) if types else None,
                                 after_seq=after or None,
                                 since_time=parse_at(since, "since") if since is not None else None,
                                 until_time=parse_at(until, "until") if until is not None else None,
                                 limit=limit, newest_first=newest_first)

    def lineage(self, name: str, version: str):
        from llmreg.registry.lineage import build_lineage

        entry = self.entry(name, version)
        return build_lineage(entry, [e.to_dict() for e in self.store.events(name=name, version=version)])

    def card(self, name: str, version: str) -> str:
        from llmreg.registry.card import render_card
        from llmreg.registry.handlers.guard import promotion_context

        entry = self.entry(name, version)
        gates = self.current_config()[1]
        # The bound the fairness gate would apply, so the card and the gate agree.
        ctx = promotion_context(self.store, entry, DEFAULT_ENV, "canary", entry.author, gates)
        bound = gates.fairness_bound(entry.spec.gates, ctx.suite_fairness_max_gap, ctx.suite_ref)
        statuses = self.status(name).versions.get(version, {})
        history = [e.to_dict() for e in self.store.events(name=name, version=version)]
        from llmreg.registry.handlers.policy import approval_rule, stated

        policy = stated(*approval_rule(self.store, name, gates))
        return render_card(entry, statuses=statuses, history=history, gates=gates, fairness_bound=bound,
                           approval_policy=policy)

    def provider_log(self, provider: str | None = None, family: str | None = None) -> list:
        from llmreg.registry import providers as pv

        return pv.change_log(self.store.provider_records(provider), provider=provider, family=family)

    def provider_snapshot(self, provider: str, snapshot: str):
        from llmreg.registry import providers as pv

        record = self.store.provider_record(pv.snapshot_key(provider, snapshot))
        if record is None:
            raise NotFound(f"{pv.snapshot_key(provider, snapshot)} has not been seen; run `llmreg providers discover`")
        return record

    # ------------------------------------------------------------------ configuration

    def current_config(self) -> tuple[Roles, GatesConfig]:
        return self.config(self.store.head().config_seq)

    def config(self, config_seq: int, reads: Reads | None = None) -> tuple[Roles, GatesConfig]:
        """Roles and gates as of `config_seq` (re-read only when a config event moved it)."""
        cached = self._config
        if cached is not None and cached[0] == config_seq:
            return cached[1], cached[2]
        from llmreg.registry.gates_config import GatesConfig
        from llmreg.registry.roles import Roles

        reads = reads or self.store
        roles_row = reads.config("roles")
        gates_row = reads.config("gates")
        roles = Roles.from_dict(roles_row[0]) if roles_row else Roles.open()
        gates = GatesConfig.from_dict(gates_row[0]) if gates_row else GatesConfig()
        self._config = (config_seq, roles, gates)
        return roles, gates

    # ------------------------------------------------------------------ resolve (uncached)

    def resolve(self, name: str, env: str, stage: str, at: Any = None) -> Resolved:
        if at is not None:
            moment = parse_at(at)
            held = self.store.stage_at(name, env, stage, moment)
            if held is None:
                raise self.nothing_holds(name, env, stage, moment)
            version, weight, seq, since = held
            return self._resolved(name, version, env, stage, weight, seq, since, moment)
        row = self.store.pointer(name, env, stage)
        if row is None:
            raise self.nothing_holds(name, env, stage, None)
        version, weight, seq, since = row
        return self._resolved(name, version, env, stage, weight, seq, since, None)

    def _resolved(self, name: str, version: str, env: str, stage: str, weight: float | None, seq: int, since: str,
                  at: str | None) -> Resolved:
        """The answer, with the Entry built when first used (a cached one at once)."""
        entry = self._entries.get((name, version))
        if entry is not None:
            return Resolved(name, version, env, stage, weight, seq, since, entry, at)
        data = self._entry_data(name, version)
        return Resolved(name, version, env, stage, weight, seq, since, lambda: self._entry_for(name, version, data),
                        at, document=data)

    def _entry_for(self, name: str, version: str, data: dict) -> Entry:
        return self._entries.get((name, version)) or self._built(name, version, data)

    def nothing_holds(self, name: str, env: str, stage: str, moment: str | None) -> NotFound:
        if not self.store.versions(name):
            return self.not_found(name)
        when = f" at {moment}" if moment else ""
        held = self.status(name)
        now = "; now: " + ", ".join(f"{e}/{s}={v}" for e, stages in held.items() for s, v in stages.items()) if held else ""
        return NotFound(f"{name}: nothing held {stage} in env {env!r}{when}{now}" if moment else
                        f"{name}: nothing holds {stage} in env {env!r}{now}; promote a version first "
                        f"(llmreg promote {name}@VERSION --to {stage} --env {env})")
