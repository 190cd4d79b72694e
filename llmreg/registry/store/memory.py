"""MemoryStore: the store port held in Python objects, for unit tests of the core.

Not a cache and not for production: nothing survives the process. tests/contract runs the
same suite against it, SQLite and PostgreSQL, so the fold below must agree with the SQL
projection (store/projection.py) event for event. Events are kept as the SQL store's rows
(the same canonical text and hash), so chain verification and event reads are shared.

A unit of work works on a copy of the state and swaps it in at commit: its reads see its
own appends, other readers see the last commit, and one lock serialises writers.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from llmreg.registry import events as ev
from llmreg.registry import providers as pv
from llmreg.registry import webhooks
from llmreg.registry.api_keys import ApiKey
from llmreg.registry.audit import AuditReport
from llmreg.registry.canonical import canonical_json
from llmreg.registry.events import GENESIS_HASH, Event, make_event, row_to_event, utc_now, verify_rows
from llmreg.registry.semver import version_key
from llmreg.registry.store.port import CommitThenRaise, Head, Pointer, Reads, Store, UnitOfWork
from llmreg.registry.store.projection import eval_record, fold_stages


@dataclass
class _State:
    head: Head = field(default_factory=lambda: Head(0, GENESIS_HASH, "", 0))
    rows: list[tuple] = field(default_factory=list)  # stored events, as the SQL store keeps them
    entries: dict[tuple[str, str], int] = field(default_factory=dict)  # (name, version) -> seq
    pointers: dict[tuple[str, str, str], tuple] = field(default_factory=dict)  # -> (version, weight, seq, time)
    states: dict[tuple[str, str, str], tuple[str, bool]] = field(default_factory=dict)
    approvals: dict[tuple[str, str, str, str, str], tuple[bool, int]] = field(default_factory=dict)
    reviews: list[tuple] = field(default_factory=list)
    evidence: list[tuple] = field(default_factory=list)
    evals: list[tuple] = field(default_factory=list)
    suites: dict[tuple[str, str], tuple] = field(default_factory=dict)  # -> (seq, threshold, definition)
    config: dict[str, tuple[Any, int]] = field(default_factory=dict)
    providers: dict[str, pv.SnapshotRecord] = field(default_factory=dict)
    discovery: dict[str, pv.DiscoveryRecord] = field(default_factory=dict)
    api_keys: dict[str, tuple] = field(default_factory=dict)  # key_id -> the api_keys row (COLUMNS order)
    keys: dict[str, str] = field(default_factory=dict)  # signing_keys: fingerprint -> public key line
    webhooks: dict[str, Any] = field(default_factory=dict)  # id -> webhooks.WebhookSubscription
    # operational, not projection: id -> (url, secret); outbox rows (id, subscription id, event)
    endpoints: dict[str, tuple[str, str]] = field(default_factory=dict)
    outbox: list[tuple[int, str, dict]] = field(default_factory=list)

    def fresh_projection(self) -> "_State":
        return _State(head=self.head, rows=self.rows, keys=self.keys, endpoints=self.endpoints, outbox=self.outbox)


class _MemoryReads(Reads):
    def _state(self) -> _State:
        raise NotImplementedError

    def entry_data(self, name: str, version: str) -> dict[str, Any] | None:
        state = self._state()
        seq = state.entries.get((name, version))
        return json.loads(state.rows[seq - 1][7])["entry"] if seq else None

    def pointer(self, name: str, env: str, stage: str) -> tuple | None:
        return self._state().pointers.get((name, env, stage))

    def pointers(self, name: str | None = None, env: str | None = None) -> list[Pointer]:
        return [Pointer(n, e, s, *held) for (n, e, s), held in sorted(self._state().pointers.items())
                if (name is None or n == name) and (env is None or e == env)]

    def latest_version(self, name: str) -> str | None:
        versions = self.versions(name)
        return versions[-1] if versions else None

    def versions(self, name: str) -> list[str]:
        return sorted((v for n, v in self._state().entries if n == name), key=version_key)

    def names(self) -> list[str]:
        return sorted({n for n, _ in self._state().entries})

    def state(self, name: str, version: str, env: str) -> tuple[str, bool] | None:
        return self._state().states.get((name, version, env))

    def states_of_version(self, name: str, version: str) -> dict[str, tuple[str, bool]]:
        return {e: held for (n, v, e), held in sorted(self._state().states.items()) if (n, v) == (name, version)}

    def states_of_name(self, name: str) -> list[tuple[str, str, str, bool]]:
        rows = [(v, e, s, w) for (n, v, e), (s, w) in self._state().states.items() if n == name]
        return sorted(rows, key=lambda row: (row[1], row[0]))

    def reviews(self, name: str, version: str, env: str) -> list[dict]:
        return [{"actor": a, "decision": d, "notes": notes, "seq": seq}
                for seq, n, v, e, a, d, notes in self._state().reviews if (n, v, e) == (name, version, env)]

    def approvals(self, name: str, version: str, env: str, *, stage: str | None = None,
                  granted_only: bool = True) -> list[dict]:
        rows = sorted(((seq, a, st, granted) for (n, v, e, st, a), (granted, seq) in self._state().approvals.items()
                       if (n, v, e) == (name, version, env)))
        return [{"actor": a, "stage": st, "seq": seq} for seq, a, st, granted in rows
                if (stage is None or st == stage) and (granted or not granted_only)]

    def evidence(self, name: str, version: str, env: str) -> list[dict]:
        return [{"kind": k, "data": copy.deepcopy(data), "actor": a, "seq": seq}
                for seq, n, v, e, k, a, data in self._state().evidence if (n, v, e) == (name, version, env)]

    def eval_records(self, name: str, version: str) -> list[dict]:
        return [dict(copy.deepcopy(report), actor=a, seq=seq)
                for seq, n, v, a, report in self._state().evals if (n, v) == (name, version)]

    def suite(self, name: str, version: str | None = None) -> dict | None:
        found = sorted((seq, v, threshold, definition) for (n, v), (seq, threshold, definition)
                       in self._state().suites.items() if n == name and (version is None or v == version))
        if not found:
            return None
        seq, v, threshold, definition = found[-1]
        return {"name": name, "version": v, "threshold": threshold, "definition": copy.deepcopy(definition), "seq": seq}

    def config(self, key: str) -> tuple[Any, int] | None:
        held = self._state().config.get(key)
        return (copy.deepcopy(held[0]), held[1]) if held else None

    def provider_record(self, key: str) -> pv.SnapshotRecord | None:
        return self._state().providers.get(key)

    def provider_records(self, provider: str | None = None) -> dict[str, pv.SnapshotRecord]:
        return {k: r for k, r in sorted(self._state().providers.items()) if provider is None or r.provider == provider}

    def discovery_records(self) -> dict[str, pv.DiscoveryRecord]:
        return dict(sorted(self._state().discovery.items()))

    def webhook_subscriptions(self) -> list:
        return [sub for _, sub in sorted(self._state().webhooks.items())]

    def api_keys(self) -> list[ApiKey]:
        return [ApiKey.from_row(row) for row in sorted(self._state().api_keys.values(), key=lambda r: r[4])]


class MemoryUnitOfWork(_MemoryReads, UnitOfWork):
    def __init__(self, state: _State):
        self.work = state
        self.head = state.head
        now = utc_now()
        self.time = now if now > state.head.time else state.head.time
        self.events: list[Event] = []
        self.key = None  # the actor's keys.SigningKey: every event appended is signed with it

    def signed_as(self, fingerprint: str) -> str | None:
        return next((r[2] for r in self.work.rows if r[11] == fingerprint), None)

    def stored_hash(self, seq: int) -> str | None:
        rows = self.work.rows
        return rows[seq - 1][10] if 0 < seq <= len(rows) else None

    def remember_key(self, public) -> None:
        self.work.keys.setdefault(public.fingerprint, public.openssh())

    def put_webhook_endpoint(self, id: str, url: str, secret: str) -> None:
        self.work.endpoints[id] = (url, secret)

    def drop_webhook_endpoint(self, id: str) -> None:
        self.work.endpoints.pop(id, None)

    def _state(self) -> _State:
        return self.work

    @property
    def next_seq(self) -> int:
        return self.work.head.seq + 1

    def append(self, type: str, *, actor: str, name: str | None = None, version: str | None = None,
               env: str | None = None, payload: Mapping[str, Any] | None = None,
               evidence: Mapping[str, Any] | None = None) -> Event:
        head = self.work.head
        event, payload_json, evidence_json = make_event(
            seq=head.seq + 1, time=self.time, actor=actor, type=type, name=name, version=version, env=env,
            payload=payload, evidence=evidence, prev_hash=head.hash, key=self.key)
        self.work.rows.append((event.seq, event.time, actor, type, name, version, env, payload_json, evidence_json,
                               event.prev_hash, event.hash, event.signer, event.signature))
        apply(self.work, event.seq, event.time, actor, type, name, version, env, json.loads(payload_json))
        config_seq = event.seq if type in ev.CONFIG_SEQ_TYPES else head.config_seq
        self.work.head = Head(event.seq, event.hash, event.time, config_seq)
        outbox = self.work.outbox
        for _, sub in sorted(self.work.webhooks.items()):  # as sql_webhooks.py: a row per match, by id
            if sub.route().matches(type, name, payload):
                outbox.append((len(outbox) + 1, sub.id, webhooks.outbox_event(event)))
        self.events.append(event)
        return event


class MemoryStore(_MemoryReads, Store):
    def __init__(self) -> None:
        self._committed = _State()
        self._lock = threading.RLock()
        self._local = threading.local()

    def _state(self) -> _State:
        return self._committed

    def __repr__(self) -> str:
        return "MemoryStore()"

    @contextmanager
    def unit_of_work(self) -> Iterator[MemoryUnitOfWork]:
        with self._lock:
            self._local.committed = None
            base = self._committed
            work = copy.deepcopy(dataclasses.replace(base, rows=[]))  # a private copy to write on
            work.rows = list(base.rows)  # rows are immutable tuples: share them
            uow = MemoryUnitOfWork(work)
            deferred: BaseException | None = None
            try:
                yield uow
            except CommitThenRaise as wrapped:
                deferred = wrapped.error
            self._committed = work
            self._local.committed = work.head.seq
        if deferred is not None:
            raise deferred

    def committed_seq(self) -> int | None:
        return getattr(self._local, "committed", None)

    def head(self) -> Head:
        return self._committed.head

    def head_seq(self) -> int:
        return self._committed.head.seq

    def events(self, *, name: str | None = None, version: str | None = None, env: str | None = None,
               types: Sequence[str] | None = None, after_seq: int | None = None,
               until_time: str | None = None, since_time: str | None = None, limit: int | None = None,
               newest_first: bool = False) -> list[Event]:
        rows = [r for r in self._committed.rows
                if (name is None or r[4] == name) and (version is None or r[5] == version)
                and (env is None or r[6] == env) and (not types or r[3] in types)
                and (after_seq is None or r[0] > after_seq) and (until_time is None or r[1] <= until_time)
                and (since_time is None or r[1] >= since_time)]
        if newest_first:
            rows.reverse()
        return [row_to_event(r) for r in rows[:limit if limit is not None else None]]

    def iter_event_rows(self, after: int = 0, until: int | None = None) -> Iterator[tuple]:
        return iter([r for r in self._committed.rows if r[0] > after and (until is None or r[0] <= until)])

    def verify_chain(self) -> AuditReport:
        head = self._committed.head
        ok, bad_seq, reason, count, _ = verify_rows(self.iter_event_rows(until=head.seq))
        return AuditReport(ok, count, head.seq, head.hash, bad_seq, reason)

    def public_keys(self) -> dict[str, str]:
        return dict(self._committed.keys)

    def webhook_endpoint(self, id: str) -> tuple[str, str] | None:
        return self._committed.endpoints.get(id)

    def outbox_rows(self, after_id: int = 0) -> list[tuple[int, str, dict]]:
        return [row for row in self._committed.outbox if row[0] > after_id]

    def hash_at(self, seq: int) -> str | None:
        rows = self._committed.rows
        return rows[seq - 1][10] if 0 < seq <= len(rows) else None

    def stages_at(self, name: str, env: str, until_time: str | None = None) -> dict[str, tuple]:
        return fold_stages((r[0], r[1], r[3], r[5], json.loads(r[7])) for r in self._committed.rows
                           if r[4] == name and r[6] == env and r[3] in ev.STAGE_TYPES
                           and (until_time is None or r[1] <= until_time))

    def rebuild_projection(self) -> int:
        with self._lock:
            state = self._committed.fresh_projection()
            config_seq = 0
            for seq, time, actor, type_, name, version, env, payload, *_ in state.rows:
                apply(state, seq, time, actor, type_, name, version, env, json.loads(payload))
                if type_ in ev.CONFIG_SEQ_TYPES:
                    config_seq = seq
            head = state.head
            state.head = Head(head.seq, head.hash, head.time, config_seq)
            self._committed = state
            return len(state.rows)

    def projection_differs(self) -> str | None:
        from llmreg.registry.audit_check import first_difference

        committed = self._committed
        fresh = committed.fresh_projection()
        config_seq = 0
        for seq, time, actor, type_, name, version, env, payload, *_ in fresh.rows:
            apply(fresh, seq, time, actor, type_, name, version, env, json.loads(payload))
            if type_ in ev.CONFIG_SEQ_TYPES:
                config_seq = seq
        if config_seq != committed.head.config_seq:
            return f"head.config_seq is {committed.head.config_seq}, the log's last config event is {config_seq}"
        return first_difference(self.dump_projection(), self.dump_projection(fresh))

    def dump_projection(self, state: Any = None) -> dict[str, Any]:
        """The projection by the SQL store's table names (its own row shapes)."""
        state = state or self._committed
        return {table: sorted(held.items()) if isinstance(held, dict) else list(held)
                for table, held in (("entries", state.entries), ("stage_pointers", state.pointers),
                                    ("version_states", state.states), ("approvals", state.approvals),
                                    ("reviews", state.reviews), ("evidence", state.evidence),
                                    ("eval_records", state.evals), ("suites", state.suites),
                                    ("config", state.config), ("provider_snapshots", state.providers),
                                    ("provider_discovery", state.discovery),
                                    ("webhook_subscriptions", state.webhooks), ("api_keys", state.api_keys))}

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- the fold (as store/projection.py)

def apply(state: _State, seq: int, time: str, actor: str, type_: str, name: Any, version: Any, env: Any,
          payload: Mapping[str, Any], *, owned: bool = False) -> None:
    """Fold one event into `state`. owned=True: `payload` was decoded for this call alone (the
    audit's replay) and is kept as it is; otherwise the parts kept are copied."""
    if type_ == ev.EVIDENCE_RECORDED and owned:
        state.evidence.append((seq, name, version, env, payload["kind"], actor, payload["data"]))
    elif type_ == ev.ENTRY_REGISTERED:
        state.entries[(name, version)] = seq
    elif type_ == ev.STAGE_PROMOTED:
        _take_stage(state, seq, time, name, version, env, payload["stage"], payload.get("weight"))
    elif type_ == ev.STAGE_ROLLED_BACK:
        if payload.get("stage", "production") == "canary":
            _leave_stages(state, name, env, version)
            state.states[(name, version, env)] = ("development", _was_production(state, name, version, env))
        else:
            _take_stage(state, seq, time, name, version, env, "production", None)
    elif type_ == ev.STAGE_ARCHIVED:
        _leave_stages(state, name, env, version)
        state.states[(name, version, env)] = ("archived", _was_production(state, name, version, env))
    elif type_ == ev.REVIEW_RECORDED:
        state.reviews.append((seq, name, version, env, actor, payload["decision"], payload.get("notes", "")))
    elif type_ in (ev.APPROVAL_GRANTED, ev.APPROVAL_WITHDRAWN):
        state.approvals[(name, version, env, payload["stage"], actor)] = (type_ == ev.APPROVAL_GRANTED, seq)
    elif type_ == ev.EVIDENCE_RECORDED:
        state.evidence.append((seq, name, version, env, payload["kind"], actor, copy.deepcopy(payload["data"])))
    elif type_ == ev.EVAL_RECORDED:
        state.evals.append((seq, name, version, actor, eval_record(payload)))
    elif type_ == ev.SUITE_REGISTERED:
        threshold = payload.get("threshold")
        state.suites[(name, version)] = (seq, None if threshold is None else float(threshold),
                                         copy.deepcopy(payload.get("definition") or {}))
    elif type_ in (ev.CONFIG_ROLES, ev.CONFIG_GATES):
        key = "roles" if type_ == ev.CONFIG_ROLES else "gates"
        state.config[key] = (copy.deepcopy(payload[key]), seq)
        if type_ == ev.CONFIG_ROLES and "signers" in payload:
            state.config["signers"] = (copy.deepcopy(payload["signers"]), seq)
    elif type_ == ev.CONFIG_APPROVALS:
        state.config["approvals"] = (copy.deepcopy(payload["approvals"]), seq)
    elif type_ == pv.PROVIDER_SNAPSHOT:
        if payload.get("provider") and payload.get("snapshot") and payload.get("status") in pv.EVENT_STATUSES:
            key = pv.snapshot_key(payload["provider"], payload["snapshot"])
            state.providers[key] = pv.apply(state.providers.get(key), payload, time=time, seq=seq)
    elif type_ == ev.WEBHOOK_SUBSCRIBED:
        state.webhooks[payload["id"]] = webhooks.WebhookSubscription.from_payload(payload, seq, actor)
    elif type_ == ev.WEBHOOK_UNSUBSCRIBED:
        state.webhooks.pop(payload["id"], None)
    elif type_ == ev.APIKEY_CREATED:
        state.api_keys[payload["key_id"]] = (payload["key_id"], payload["digest"], payload["label"],
                                             canonical_json(payload["scopes"]).decode("utf-8"), seq, time, actor,
                                             None, None, None, None)
    elif type_ == ev.APIKEY_REVOKED:
        held = state.api_keys.get(payload["key_id"])
        if held is not None and held[7] is None:  # the first revocation stands, as in projection.py
            state.api_keys[payload["key_id"]] = held[:7] + (seq, time, actor, payload.get("reason", ""))
    elif type_ == pv.PROVIDER_DISCOVERY and payload.get("provider"):
        state.discovery[payload["provider"]] = pv.DiscoveryRecord(
            payload["provider"], bool(payload.get("ok")), time, payload.get("error"), payload.get("base_url"), seq)


def _was_production(state: _State, name: str, version: str, env: str) -> bool:
    held = state.states.get((name, version, env))
    return bool(held and held[1])


def _leave_stages(state: _State, name: str, env: str, version: str) -> None:
    for key in [k for k, held in state.pointers.items() if k[:2] == (name, env) and held[0] == version]:
        del state.pointers[key]


def _take_stage(state: _State, seq: int, time: str, name: str, version: str, env: str, stage: str,
                weight: float | None) -> None:
    """As projection._take_stage: the displaced holder goes back to development (retired from production)."""
    displaced = state.pointers.get((name, env, stage))
    _leave_stages(state, name, env, version)
    state.pointers[(name, env, stage)] = (version, weight, seq, time)
    state.states[(name, version, env)] = (stage, stage == "production" or _was_production(state, name, version, env))
    if displaced is not None and displaced[0] != version:
        status = "retired" if stage == "production" else "development"
        state.states[(name, displaced[0], env)] = (status, _was_production(state, name, displaced[0], env))
