"""The read side of the `Registry` facade: entries, stage holders, statuses, the log, resolve.

Everything here reads; `Registry` (api.py) adds the writes. Queries go to
`queries.Queries`; `resolve` answers through `resolve_cache.ResolveCache`.
"""
from __future__ import annotations

import os

from llmreg.registry.errors import BadInput
from llmreg.registry.queries import NameStatus, Queries
from llmreg.registry.resolve import DEFAULT_ENV, RESOLVABLE_STAGES, Resolved, check_env
from llmreg.registry.resolve_cache import ResolveCache

TYPE_CHECKING = False  # the read verbs' start-up: what only some reads need loads when they run
if TYPE_CHECKING:
    from typing import Any, Collection

    from llmreg.registry.artifacts import ArtifactStore
    from llmreg.registry.audit import AuditReport
    from llmreg.registry.entry import Entry, EntrySpec
    from llmreg.registry.events import Event
    from llmreg.registry.gates_config import GatesConfig
    from llmreg.registry.integrity import VerifyReport
    from llmreg.registry.roles import Roles
    from llmreg.registry.store.port import Pointer, Store


class RegistryReads:
    """What a Registry answers without writing."""

    def __init__(self, store: Store, artifacts: "ArtifactStore | str", *, cache: bool = True,
                 refresh_interval: float = 0.5):
        self.store = store
        self._artifacts = artifacts  # a root path: the ArtifactStore is built on first use
        self.queries = Queries(store)
        self.resolver = ResolveCache(self.queries, enabled=cache, refresh_interval=refresh_interval)

    @property
    def artifacts(self) -> "ArtifactStore":
        value = self._artifacts
        if isinstance(value, str):
            from llmreg.registry.artifacts import ArtifactStore

            value = self._artifacts = ArtifactStore(value)
        return value

    @classmethod
    def open(cls, url: str | os.PathLike | None = None, *, artifacts: str | os.PathLike | None = None,
             cache: bool = True, refresh_interval: float = 0.5) -> "RegistryReads":
        """The store at `url` with its artifact store (see `Registry.open` for both), for reading
        only: the read verbs open this, so they never import the write handlers."""
        store, root = open_store(url, artifacts)
        return cls(store, root, cache=cache, refresh_interval=refresh_interval)

    def close(self) -> None:
        self.store.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, name: str, version: str | None = None) -> Entry:
        """One entry; the latest version when `version` is None. 'name@version' works too."""
        return self.queries.get(name, version)

    def versions(self, name: str) -> list[str]:  # semver ascending; [] for an unknown name
        return self.store.versions(name)

    def names(self) -> list[str]:
        return self.store.names()

    def list_entries(self, name: str | None = None) -> list[Entry]:  # latest of each name, or every version
        return self.queries.list_entries(name)

    def version_page(self, name: str, limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """(rows, total): versions of `name` for listing (version, created_at, author, bump,
        bump_reason), read as stored without building or re-validating entries."""
        return self.queries.version_page(name, limit, offset)

    def version_rows(self, name: str, limit: int | None = None, offset: int = 0) -> tuple[list[tuple], int]:
        """`version_page` as stored tuples (version, created_at, author, bump, bump_reason): no
        dict per row, for a listing that formats and writes them as they come."""
        return self.queries.version_rows(name, limit, offset)

    def name_page(self, limit: int | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """(rows, total): names with their latest version, number of versions and model id."""
        return self.queries.name_page(limit, offset)

    def status(self, name: str) -> NameStatus:
        """{env: {stage: version}} held now; `.of(version, env)` is one version's status there."""
        return self.queries.status(name)

    def pointers(self, name: str | None = None, env: str | None = None) -> list[Pointer]:
        """Stage holders with canary weight, seq and time (what the gateway splits traffic on)."""
        return self.store.pointers(name, env)

    def head_seq(self) -> int:  # changes whenever anything is written (one cheap query)
        return self.store.head_seq()

    def events(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
               types: Collection[str] | None = None, after: int | None = None, since: Any = None,
               until: Any = None, limit: int | None = None, newest_first: bool = False) -> list[Event]:
        """Events of the log in seq order (newest first if asked): after a seq (a sensor's
        cursor), of a name/version/env, of some types, between two times."""
        return self.queries.events(name=name, version=version, env=env, types=types, after=after, since=since,
                                   until=until, limit=limit, newest_first=newest_first)

    def verify_audit(self, *, after_seq: int = 0, projection: bool = True, legacy_unsigned: int = 0):
        """The full audit (audit_check.py): chain, signatures, identities, the log's rules, projection.
        after_seq: a trusted checkpoint's seq (signatures up to it are not checked again)."""
        from llmreg.registry.audit_check import verify_store

        return verify_store(self.store, after_seq=after_seq, projection=projection, legacy_unsigned=legacy_unsigned)

    def verify_chain(self) -> AuditReport:  # the hash chain only (fast; what `audit verify` did before)
        return self.store.verify_chain()

    def diff(self, a: Entry | EntrySpec | str, b: Entry | EntrySpec | str):
        """Field-level diff of two entries: each an Entry, an EntrySpec or 'name@version'
        (an entry file: `diff(load_entry_file(path)[0], ...)`)."""
        return self.queries.diff(a, b)

    def roles(self) -> Roles:
        return self.queries.current_config()[0]

    def gates(self) -> GatesConfig:
        return self.queries.current_config()[1]

    @property
    def roles_configured(self) -> bool:
        if self.store.config("roles") is None:  # never configured: open mode, without loading Roles
            return False
        return not self.roles().open_mode

    def lineage(self, name: str, version: str):
        return self.queries.lineage(name, version)

    def card(self, name: str, version: str) -> str:
        return self.queries.card(name, version)

    def resolve(self, name: str, env: str = DEFAULT_ENV, *, stage: str | None = "production", at: Any = None,
                verify: bool = False) -> Resolved:
        """The tuple holding `stage` of `env` now, or at time `at`. verify=True re-hashes the
        version's artifacts, every copy, on every call (IntegrityError on a mismatch): the bytes
        may change under a warm cache."""
        if stage is None:  # the CLI's "not given"
            stage = "production"
        if at is None and not verify:
            hit = self.resolver.cached(name, env, stage)  # only answers ever checked are cached
            if hit is not None:
                return hit
        if stage not in RESOLVABLE_STAGES:
            raise BadInput(f"stage: {stage!r} cannot be resolved; use one of {', '.join(RESOLVABLE_STAGES)}",
                           field="stage")
        resolved = self.resolver.resolve(name, check_env(env), stage, at)
        if verify:
            from llmreg.registry import integrity

            integrity.require_artifacts(self.artifacts, resolved.entry)
        return resolved

    def verify(self, name: str | None = None, version: str | None = None) -> "VerifyReport":
        """Re-hash every artifact of one version ('name@version' too), every version of `name`, or all."""
        if name is None:
            entries = [self.queries.entry(n, v) for n in self.store.names() for v in self.store.versions(n)]
        else:
            entries = self.list_entries(name) if version is None and "@" not in name else [self.get(name, version)]
        from llmreg.registry import integrity

        return integrity.verify_entries(self.artifacts, entries)

    # provider snapshots

    def provider_log(self, provider: str | None = None, family: str | None = None) -> list:
        """The provider change log: one `providers.SnapshotRecord` per snapshot seen."""
        return self.queries.provider_log(provider, family)

    def provider_snapshot(self, provider: str, snapshot: str):
        """One snapshot's record; NotFound when the registry never saw it."""
        return self.queries.provider_snapshot(provider, snapshot)

    def provider_discovery(self) -> dict:
        """{provider: DiscoveryRecord}: the last recorded state of each provider's model list."""
        return self.store.discovery_records()


def open_store(url: str | os.PathLike | None, artifacts: str | os.PathLike | None) -> tuple[Store, str]:
    """(the SQL store at `url`, the artifact store's root): $LLMREG_ARTIFACTS, else `artifacts/`
    beside the SQLite file, else .llmreg/artifacts."""
    from llmreg.registry.store.sql import SQLStore

    store = SQLStore(url)
    root = artifacts or os.environ.get("LLMREG_ARTIFACTS")
    if root is None:
        base = os.path.dirname(store.url.path) if store.url.path else os.path.abspath(".llmreg")
        root = os.path.join(base, "artifacts")
    return store, os.fspath(root)
