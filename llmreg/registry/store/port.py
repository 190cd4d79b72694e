"""The store port: what the registry core needs from a store, whatever holds the data.

    with store.unit_of_work() as uow:      # one transaction holding the writer lock
        row = uow.pointer(name, env, "production")   # reads see this transaction
        uow.append(ev.STAGE_PROMOTED, actor=..., ...)  # hashed, chained, projected

A unit of work commits when its block ends; `CommitThenRaise(error)` raised inside it
commits what was appended (a refusal record) and then raises `error`; any other exception
rolls everything back. The store's own read methods (the same `Reads` set, outside any
transaction) serve the query side.

Implementations: `store.sql.SQLStore` (SQLite, PostgreSQL) and `store.memory.MemoryStore`
(unit tests of the pure core); tests/contract runs one suite against all of them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

from llmreg.registry.frozen import Frozen

TYPE_CHECKING = False  # typing, audit and events load only for type checkers (the read verbs' start-up)
if TYPE_CHECKING:
    from typing import Any, Iterator, Mapping, Sequence

    from llmreg.registry.audit import AuditReport
    from llmreg.registry.events import Event


class CommitThenRaise(Exception):
    """Raised inside a unit of work: keep what was appended (the refusal record), then raise `error`."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


class Head(Frozen):
    """The log's head: last seq, its hash and time, and the seq of the last config event."""

    __slots__ = ("seq", "hash", "time", "config_seq")
    seq: int
    hash: str
    time: str
    config_seq: int


class Pointer(Frozen):
    """Who holds one stage of one environment: version, canary weight, the event and its time."""

    __slots__ = ("name", "env", "stage", "version", "weight", "seq", "time")
    name: str
    env: str
    stage: str
    version: str
    weight: float | None
    seq: int
    time: str


# (version, weight, seq, time): who holds one stage, the resolve hot path's row
PointerRow = tuple[str, "float | None", int, str]

# (version, created_at, author, bump, bump_reason): one line of `llmreg list NAME`
VersionRow = tuple[str, str, str, str, str]
# (name, latest version, number of versions, model request id): one line of `llmreg list`
NameRow = tuple[str, str, int, str]


class Reads(ABC):
    """Projection reads; on a unit of work they see its open transaction."""

    @abstractmethod
    def entry_data(self, name: str, version: str) -> dict[str, Any] | None:
        """The entry as its entry.registered event recorded it, or None."""

    @abstractmethod
    def pointer(self, name: str, env: str, stage: str) -> tuple | None:
        """(version, weight, seq, time) of the holder of `stage`, or None."""

    @abstractmethod
    def pointers(self, name: str | None = None, env: str | None = None) -> list[Pointer]: ...

    @abstractmethod
    def latest_version(self, name: str) -> str | None: ...

    @abstractmethod
    def versions(self, name: str) -> list[str]:
        """Versions of `name`, semver ascending."""

    @abstractmethod
    def names(self) -> list[str]: ...

    # Listing pages: stored entries as registration wrote them, read without re-validating
    # (the log's hash chain proves them). The SQL store answers each page in one query; these
    # defaults (the memory store's) read the stored documents.

    def version_count(self, name: str) -> int:
        return len(self.versions(name))

    def version_rows(self, name: str, limit: int, offset: int = 0) -> list[VersionRow]:
        """One page of `name`'s versions, semver ascending."""
        out = []
        for version in self.versions(name)[offset:offset + limit]:
            data = self.entry_data(name, version) or {}
            out.append((version, data.get("created_at", ""), data.get("author", ""), data.get("bump", ""),
                        data.get("bump_reason", "")))
        return out

    def name_count(self) -> int:
        return len(self.names())

    def name_rows(self, limit: int, offset: int = 0) -> list[NameRow]:
        """One page of names in order, each with its latest version."""
        out = []
        for name in self.names()[offset:offset + limit]:
            versions = self.versions(name)
            model = ((self.entry_data(name, versions[-1]) or {}).get("spec") or {}).get("model") or {}
            out.append((name, versions[-1], len(versions), model.get("snapshot") or model.get("id") or ""))
        return out

    @abstractmethod
    def state(self, name: str, version: str, env: str) -> tuple[str, bool] | None:
        """(status, was_production) of one version in env, or None (development)."""

    @abstractmethod
    def states_of_version(self, name: str, version: str) -> dict[str, tuple[str, bool]]: ...

    @abstractmethod
    def states_of_name(self, name: str) -> list[tuple[str, str, str, bool]]:
        """(version, env, status, was_production) rows of every version of `name`."""

    @abstractmethod
    def reviews(self, name: str, version: str, env: str) -> list[dict]: ...

    @abstractmethod
    def approvals(self, name: str, version: str, env: str, *, stage: str | None = None,
                  granted_only: bool = True) -> list[dict]: ...

    @abstractmethod
    def evidence(self, name: str, version: str, env: str) -> list[dict]: ...

    @abstractmethod
    def eval_records(self, name: str, version: str) -> list[dict]: ...

    @abstractmethod
    def suite(self, name: str, version: str | None = None) -> dict | None: ...

    @abstractmethod
    def config(self, key: str) -> tuple[Any, int] | None:
        """(value, seq) of a config document ("roles", "gates"), or None."""

    @abstractmethod
    def provider_records(self, provider: str | None = None) -> dict[str, Any]:
        """{snapshot key: providers.SnapshotRecord}: the provider snapshot projection."""

    @abstractmethod
    def provider_record(self, key: str) -> Any | None: ...

    @abstractmethod
    def discovery_records(self) -> dict[str, Any]:
        """{provider: providers.DiscoveryRecord}: each provider list's last recorded state."""

    @abstractmethod
    def webhook_subscriptions(self) -> list[Any]:
        """webhooks.WebhookSubscription rows (the fold of webhook.* events), by id."""

    @abstractmethod
    def api_keys(self) -> list[Any]:
        """Every gateway API key (api_keys.ApiKey, digest and scopes; revoked ones too), by created_seq."""

    def api_key(self, key_id: str) -> Any | None:
        return next((key for key in self.api_keys() if key.key_id == key_id), None)


class UnitOfWork(Reads):
    """One write transaction holding the writer lock: read current state, append events."""

    head: Head
    time: str  # one timestamp per transaction, never before the previous event's
    events: list[Event]
    key: Any  # keys.SigningKey that signs every event appended (set by the facade), or None

    @abstractmethod
    def signed_as(self, fingerprint: str) -> str | None:
        """The actor of the first event the key with this fingerprint signed, or None."""

    @abstractmethod
    def stored_hash(self, seq: int) -> str | None:
        """The hash of stored event `seq` as this transaction sees it, or None."""

    @abstractmethod
    def remember_key(self, public: Any) -> None:
        """Keep the public key (keys.PublicKey) of a signer, once; audits read them back."""

    @abstractmethod
    def put_webhook_endpoint(self, id: str, url: str, secret: str) -> None:
        """Keep a subscription's full URL and HMAC secret (operational, never in the log)."""

    @abstractmethod
    def drop_webhook_endpoint(self, id: str) -> None: ...

    @property
    @abstractmethod
    def next_seq(self) -> int: ...

    @abstractmethod
    def append(self, type: str, *, actor: str, name: str | None = None, version: str | None = None,
               env: str | None = None, payload: Mapping[str, Any] | None = None,
               evidence: Mapping[str, Any] | None = None) -> Event:
        """Hash, chain and store one event and apply it to the projection."""


class Store(Reads):
    """A registry store: the hash-chained log, its projection and their queries."""

    @abstractmethod
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]: ...

    @abstractmethod
    def committed_seq(self) -> int | None:
        """The head seq this thread's last unit of work committed (None if it rolled back)."""

    @abstractmethod
    def head(self) -> Head: ...

    @abstractmethod
    def head_seq(self) -> int: ...

    @abstractmethod
    def events(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
               types: Sequence[str] | None = None, after_seq: int | None = None,
               until_time: str | None = None, since_time: str | None = None, limit: int | None = None,
               newest_first: bool = False) -> list[Event]: ...

    @abstractmethod
    def iter_event_rows(self, after: int = 0, until: int | None = None) -> Iterator[tuple]:
        """Stored rows (seq, time, actor, type, name, version, env, payload_json, evidence_json,
        prev_hash, hash, signer, signature) in seq order."""

    @abstractmethod
    def verify_chain(self) -> AuditReport: ...

    @abstractmethod
    def public_keys(self) -> dict[str, str]:
        """{fingerprint: 'ssh-ed25519 AAAA...'} of every key that signed an event."""

    @abstractmethod
    def hash_at(self, seq: int) -> str | None:
        """The stored hash of event `seq`, or None when the log has no such event."""

    @abstractmethod
    def stages_at(self, name: str, env: str, until_time: str | None = None) -> dict[str, tuple]:
        """Stage holders of (name, env) folded from the log's stage events up to `until_time`."""

    def stage_at(self, name: str, env: str, stage: str, until_time: str) -> tuple | None:
        """(version, weight, seq, since) of who held `stage` at `until_time`, or None. The SQL
        store answers from stage_history (one index seek); this default folds the log."""
        return self.stages_at(name, env, until_time).get(stage)

    def stage_history(self, name: str) -> list[tuple]:
        """(env, stage, since, seq, version) rows: every change of holder of each stage of `name`,
        in (env, stage, since, seq) order. The SQL store reads its stage_history table; this
        default (the memory store's) folds the log's stage events the same way."""
        from llmreg.registry import events as ev
        from llmreg.registry.store.projection import fold_stage_history

        rows = fold_stage_history((e.seq, e.time, e.type, e.name, e.version, e.env, e.payload)
                                  for e in self.events(name=name, types=ev.STAGE_TYPES))
        return [(env, stage, since, seq, version) for _, env, stage, since, seq, version, _ in rows]

    @abstractmethod
    def rebuild_projection(self) -> int: ...

    @abstractmethod
    def dump_projection(self) -> dict[str, list[tuple]]: ...

    @abstractmethod
    def projection_differs(self) -> str | None:
        """None when the projection equals a fresh fold of the log, else the first difference."""

    @abstractmethod
    def webhook_endpoint(self, id: str) -> tuple[str, str] | None:
        """(full URL, HMAC secret) of a subscription, or None: for the sender only."""

    @abstractmethod
    def outbox_rows(self, after_id: int = 0) -> list[tuple[int, str, dict]]:
        """(delivery id, subscription id, event as delivered) of every outbox row, in id order:
        what `append` queued in the event's transaction (llmreg.notify sends and marks them)."""

    @abstractmethod
    def close(self) -> None: ...
