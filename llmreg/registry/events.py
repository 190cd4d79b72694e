"""The registry's event log: event types, the `Event` record and the hash chain.

Every change to the registry is one event. Each event carries the hash of the one before
it, and its own hash covers every other field, so editing, dropping or reordering any
stored event breaks the chain at that point:

    hash = sha256(prev_hash (64 hex chars, ASCII) + canonical_json(event without "hash"))

A signed event also has `"signer": "SHA256:..."` (its key's fingerprint) in that JSON, and
`signature`: an SSHSIG over the hash (signatures.py), stored beside it and not hashed.
`body_bytes` is the one encoder: append, sign and verify (`verify_rows`, the audit export,
tools/verify_audit_export.py re-implements it) all hash its bytes.

The projection (entries, stage pointers, approvals, ...) is derived from this log; the log
is the source of truth and the audit trail.
"""
from __future__ import annotations

import json
import os
from time import gmtime as _gmtime, strftime as _strftime, time_ns as _time_ns
from datetime import datetime, timezone  # sqlite3 loads it anyway
from types import MappingProxyType
from collections import abc as _abc

from llmreg.registry.canonical import Encoded, canonical_json
from llmreg.registry.frozen import Frozen

TYPE_CHECKING = False  # typing loads only for type checkers (the read verbs' start-up)
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping, Sequence

ENTRY_REGISTERED = "entry.registered"
EVAL_RECORDED = "eval.recorded"
SUITE_REGISTERED = "suite.registered"
REVIEW_RECORDED = "review.recorded"
APPROVAL_GRANTED = "approval.granted"
APPROVAL_WITHDRAWN = "approval.withdrawn"
EVIDENCE_RECORDED = "evidence.recorded"
GATE_PASSED = "gate.passed"
GATE_FAILED = "gate.failed"
STAGE_PROMOTED = "stage.promoted"
STAGE_ROLLED_BACK = "stage.rolled_back"
STAGE_ARCHIVED = "stage.archived"
ACTION_REFUSED = "action.refused"
CONFIG_ROLES = "config.roles"
CONFIG_GATES = "config.gates"
PROVIDER_SNAPSHOT = "provider.snapshot"

KNOWN_TYPES = frozenset({
    ENTRY_REGISTERED, EVAL_RECORDED, SUITE_REGISTERED, REVIEW_RECORDED, APPROVAL_GRANTED,
    APPROVAL_WITHDRAWN, EVIDENCE_RECORDED, GATE_PASSED, GATE_FAILED, STAGE_PROMOTED,
    STAGE_ROLLED_BACK, STAGE_ARCHIVED, ACTION_REFUSED, CONFIG_ROLES, CONFIG_GATES,
    PROVIDER_SNAPSHOT,
})
# Operations (handlers/gc.py, handlers/drill.py): the retention policy and what gc removed,
# rollback drill results. Observations only: no projection table reads them.
CONFIG_RETENTION = "config.retention"
ARTIFACTS_COLLECTED = "artifacts.collected"
ROLLBACK_DRILL = "rollback.drill"
KNOWN_TYPES = KNOWN_TYPES | {CONFIG_RETENTION, ARTIFACTS_COLLECTED, ROLLBACK_DRILL}
# Approval policy (projected into `config` under "approvals": the production gate and its
# audit replay read the policy in force there); the drift policy and drift flags
# (handlers/policy.py, handlers/drift.py). A flag is an observation: no table reads it.
CONFIG_APPROVALS = "config.approvals"
CONFIG_DRIFT = "config.drift"
VERSION_FLAGGED = "version.flagged"
KNOWN_TYPES = KNOWN_TYPES | {CONFIG_APPROVALS, CONFIG_DRIFT, VERSION_FLAGGED}
# A candidate a blocking check stopped before registration (handlers/candidates.py): no
# version, no stage, no projection table; the audit trail's record of the attempt.
CANDIDATE_REJECTED = "candidate.rejected"
KNOWN_TYPES = KNOWN_TYPES | {CANDIDATE_REJECTED}
# Webhook subscriptions (registry/webhooks.py): configuration, folded into webhook_subscriptions.
WEBHOOK_SUBSCRIBED = "webhook.subscribed"
WEBHOOK_UNSUBSCRIBED = "webhook.unsubscribed"
KNOWN_TYPES = KNOWN_TYPES | {WEBHOOK_SUBSCRIBED, WEBHOOK_UNSUBSCRIBED}
# Events that move head.config_seq, the key of every configuration cache (roles and gates in
# queries.py, the store's webhook routes): a write reads it with the head it locks anyway.
CONFIG_SEQ_TYPES = frozenset({CONFIG_ROLES, CONFIG_GATES, CONFIG_APPROVALS, CONFIG_DRIFT,
                              WEBHOOK_SUBSCRIBED, WEBHOOK_UNSUBSCRIBED})
# Gateway API keys (api_keys.py): digest and scopes, never the secret; folded into api_keys.
APIKEY_CREATED = "apikey.created"
APIKEY_REVOKED = "apikey.revoked"
KNOWN_TYPES = KNOWN_TYPES | {APIKEY_CREATED, APIKEY_REVOKED}
# Events that move a version between stages; time travel folds exactly these.
STAGE_TYPES = (STAGE_PROMOTED, STAGE_ROLLED_BACK, STAGE_ARCHIVED)

GENESIS_HASH = "0" * 64

# ensure_ascii=False string encoder in C: the same bytes canonical_json writes for a str.
_encode_str = json.encoder.encode_basestring


def utc_now() -> str:
    """Fixed-width UTC timestamp, so string order is time order (the store relies on it):
    format_time(datetime.now(timezone.utc)), without a datetime (every write stamps one)."""
    seconds, micros = divmod(_time_ns() // 1000, 1_000_000)
    return _strftime("%Y-%m-%dT%H:%M:%S", _gmtime(seconds)) + f".{micros:06d}Z"


SKEW_ENV = "LLMREG_MAX_CLOCK_SKEW"


def clock_check(now: str, head_time: str) -> None:
    """Refuse a write whose clock is behind the log's head by more than $LLMREG_MAX_CLOCK_SKEW
    seconds (default 5): its events would carry a time that is not when they happened."""
    if not head_time or now >= head_time:
        return
    from llmreg.registry.errors import Refused

    allowed = float(os.environ.get(SKEW_ENV) or 5)
    behind = (datetime.fromisoformat(head_time.replace("Z", "+00:00"))
              - datetime.fromisoformat(now.replace("Z", "+00:00"))).total_seconds()
    if behind > allowed:
        raise Refused(f"clock: this machine's clock ({now}) is {behind:.1f} s behind the log's last event ({head_time}), "
                      f"more than the {allowed:g} s allowed ({SKEW_ENV}); fix the clock (NTP) and retry")


def format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_or_null(value: str | None) -> str:
    return "null" if value is None else _encode_str(value)


def body_bytes(seq: int, time: str, actor: str, type: str, name: str | None,
               version: str | None, env: str | None, payload_json: str,
               evidence_json: str, prev_hash: str, signer: str | None = None) -> bytes:
    """canonical_json of the event without its hash, assembled from already-canonical parts.

    Equal to canonical_json({...}) when payload_json/evidence_json are the canonical JSON of
    their mappings (the store only ever writes them that way); hashing the stored text
    itself means a changed byte anywhere in a stored row changes the hash input.
    """
    # Keys in sorted order: actor env evidence name payload prev_hash seq [signer] time type
    # version. One f-string: the audit walks every event through here.
    enc = _encode_str
    return (
        f'{{"actor":{enc(actor)},"env":{"null" if env is None else enc(env)},'
        f'"evidence":{evidence_json},"name":{"null" if name is None else enc(name)},"payload":{payload_json},'
        f'"prev_hash":{enc(prev_hash)},"seq":{int(seq)}{"" if signer is None else _SIGNER + enc(signer)},'
        f'"time":{enc(time)},"type":{enc(type)},'
        f'"version":{"null" if version is None else enc(version)}}}'
    ).encode("utf-8")


_SIGNER = ',"signer":'


def chain_hash(prev_hash: str, body: bytes) -> str:
    import hashlib  # here, not at import: the read verbs never hash (start-up); ~0.1 us a call

    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Event(Frozen):
    """One stored event, as read or as just appended (immutable)."""

    __slots__ = ("seq", "time", "actor", "type", "name", "version", "env", "payload", "evidence", "prev_hash",
                 "hash", "signer", "signature")
    seq: int
    time: str
    actor: str
    type: str
    name: str | None
    version: str | None
    env: str | None
    payload: Mapping[str, Any]
    evidence: Mapping[str, Any]
    prev_hash: str
    hash: str
    signer: str | None  # key fingerprint SHA256:..., hashed with the body
    signature: str | None  # base64 SSHSIG (namespace llmreg-event) over `hash`

    def __init__(self, seq: int, time: str, actor: str, type: str, name: str | None, version: str | None,
                 env: str | None, payload: Mapping[str, Any] | None = None, evidence: Mapping[str, Any] | None = None,
                 prev_hash: str = GENESIS_HASH, hash: str = "", signer: str | None = None,
                 signature: str | None = None):
        super().__init__(seq, time, actor, type, name, version, env, _EMPTY if payload is None else payload,
                         _EMPTY if evidence is None else evidence, prev_hash, hash, signer, signature)

    @property
    def ref(self) -> str | None:
        return f"{self.name}@{self.version}" if self.name and self.version else self.name

    def body(self) -> dict[str, Any]:
        """Every field except `hash` and `signature`, as plain JSON types: what the hash covers."""
        body = {
            "seq": self.seq, "time": self.time, "actor": self.actor, "type": self.type,
            "name": self.name, "version": self.version, "env": self.env,
            "payload": _plain(self.payload), "evidence": _plain(self.evidence),
            "prev_hash": self.prev_hash,
        }
        if self.signer is not None:
            body["signer"] = self.signer
        return body

    def to_dict(self) -> dict[str, Any]:
        data = self.body()
        data["hash"] = self.hash
        data.setdefault("signer", None)
        data["signature"] = self.signature
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Event":
        return cls(
            seq=int(data["seq"]), time=data["time"], actor=data["actor"], type=data["type"],
            name=data.get("name"), version=data.get("version"), env=data.get("env"),
            payload=MappingProxyType(dict(data.get("payload") or {})),
            evidence=MappingProxyType(dict(data.get("evidence") or {})),
            prev_hash=data["prev_hash"], hash=data.get("hash", ""),
            signer=data.get("signer"), signature=data.get("signature"),
        )

    def computed_hash(self) -> str:
        return chain_hash(self.prev_hash, body_bytes(
            self.seq, self.time, self.actor, self.type, self.name, self.version, self.env,
            canonical_json(_plain(self.payload)).decode("utf-8"), canonical_json(_plain(self.evidence)).decode("utf-8"),
            self.prev_hash, self.signer))


def make_event(*, seq: int, time: str, actor: str, type: str, name: str | None = None,
               version: str | None = None, env: str | None = None,
               payload: Mapping[str, Any] | None = None,
               evidence: Mapping[str, Any] | None = None,
               prev_hash: str = GENESIS_HASH, key: Any = None) -> tuple[Event, str, str]:
    """Build a hashed event, signed when `key` (keys.SigningKey) is given; also returns the
    canonical payload/evidence text the store keeps."""
    # _plain returns fresh JSON-shaped copies (str keys, lists), so the event can hold them
    # as they are instead of re-parsing the text it just wrote. An Encoded payload is plain
    # JSON with its text already built (a registration's release tuple): used as it is.
    if payload.__class__ is Encoded:  # `type` is a parameter here
        plain_payload, payload_json = payload, payload.text
    else:
        plain_payload = _plain(payload or {})
        payload_json = canonical_json(plain_payload).decode("utf-8")
    if evidence:
        plain_evidence = _plain(evidence)
        evidence_json = canonical_json(plain_evidence).decode("utf-8")
    else:
        plain_evidence, evidence_json = {}, "{}"
    signer = signature = None
    if key is not None:
        signer = key.fingerprint
    digest = chain_hash(prev_hash, body_bytes(seq, time, actor, type, name, version, env,
                                              payload_json, evidence_json, prev_hash, signer))
    if key is not None:
        from llmreg.registry.signatures import sign_event_hash  # cryptography: write paths only

        signature, _ = sign_event_hash(key, digest)
    event = Event(seq=seq, time=time, actor=actor, type=type, name=name, version=version,
                  env=env, payload=MappingProxyType(plain_payload),
                  evidence=MappingProxyType(plain_evidence),
                  prev_hash=prev_hash, hash=digest, signer=signer, signature=signature)
    return event, payload_json, evidence_json


def row_to_event(row: Sequence[Any]) -> Event:
    """A stored row (seq, time, actor, type, name, version, env, payload_json, evidence_json,
    prev_hash, hash, signer, signature) as an Event."""
    seq, time, actor, type_, name, version, env, payload, evidence, prev_hash, hash_, signer, signature = row
    return Event(seq=seq, time=time, actor=actor, type=type_, name=name, version=version, env=env,
                 payload=MappingProxyType(json.loads(payload)), evidence=MappingProxyType(json.loads(evidence)),
                 prev_hash=prev_hash, hash=hash_, signer=signer, signature=signature)


def verify_chain(events: Iterable[Event], *, start_hash: str = GENESIS_HASH,
                 start_seq: int = 1) -> tuple[bool, int | None, str]:
    """Walk `events` in order: (ok, first_bad_seq, reason)."""
    prev_hash, expected_seq = start_hash, start_seq
    count = 0
    for event in events:
        bad = _check_link(event.seq, expected_seq, event.prev_hash, prev_hash)
        if bad:
            return False, event.seq, bad
        if event.computed_hash() != event.hash:
            return False, event.seq, f"event {event.seq}: content does not match its hash (edited after it was written)"
        prev_hash, expected_seq = event.hash, event.seq + 1
        count += 1
    return True, None, f"{count} events, chain intact"


def verify_rows(rows: Iterable[tuple], *, start_hash: str = GENESIS_HASH,
                start_seq: int = 1) -> tuple[bool, int | None, str, int, str]:
    """Fast path over stored rows (seq, time, actor, type, name, version, env, payload_json,
    evidence_json, prev_hash, hash, signer, signature): (ok, first_bad_seq, reason, count,
    last_hash). Checks the chain only; audit_check.py checks signatures and rules."""
    prev_hash, expected_seq, count = start_hash, start_seq, 0
    import hashlib

    sha = hashlib.sha256
    for seq, time, actor, type_, name, version, env, payload, evidence, row_prev, row_hash, signer, _ in rows:
        if seq != expected_seq or row_prev != prev_hash:
            return False, seq, _check_link(seq, expected_seq, row_prev, prev_hash), count, prev_hash
        try:
            digest = sha(row_prev.encode("ascii") + body_bytes(
                seq, time, actor, type_, name, version, env, payload, evidence, row_prev, signer)).hexdigest()
        except (UnicodeError, TypeError, ValueError) as exc:
            return False, seq, f"event {seq}: unreadable stored field ({exc})", count, prev_hash
        if digest != row_hash:
            if not (isinstance(payload, str) and isinstance(evidence, str)):  # e.g. NULL or a BLOB stored there
                kind = type(payload if not isinstance(payload, str) else evidence).__name__
                return False, seq, f"event {seq}: unreadable stored field (JSON text expected, found {kind})", count, prev_hash
            return False, seq, f"event {seq}: content does not match its hash (edited after it was written)", count, prev_hash
        prev_hash, expected_seq = row_hash, seq + 1
        count += 1
    return True, None, f"{count} events, chain intact", count, prev_hash


def _check_link(seq: int, expected_seq: int, prev_hash: str, expected_prev: str) -> str:
    if seq != expected_seq:
        if seq > expected_seq:
            return f"event {expected_seq} is missing (next stored event is {seq})"
        return f"event {seq} is out of order or duplicated (expected {expected_seq})"
    if prev_hash != expected_prev:
        return f"event {seq}: prev_hash does not match the hash of event {seq - 1}"
    return ""


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _plain(value: Any) -> Any:
    """Mappings/sequences (incl. MappingProxyType, tuples) -> dict/list for JSON."""
    if type(value) in _SCALARS:  # most leaves; skips the slower ABC isinstance checks
        return value
    if isinstance(value, _abc.Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
