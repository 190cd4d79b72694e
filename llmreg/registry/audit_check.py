"""`llmreg audit verify`: everything a reader relies on, checked against the log.

One pass over the stored events, stopping at the first that fails and saying why:

1. the hash chain: seq 1, 2, ...; each prev_hash the hash before it; each hash over
   `events.body_bytes` (the one encoder append, sign and verify share); the head row at the end;
2. every signature (SSHSIG, namespace llmreg-event, over the hash) by its signer's key; once
   one event is signed, an unsigned one after it is a stripped signature;
3. identity: with signers bound (config.roles `signers`), the recorded actor is the member the
   key is bound to at that point; without, one key never signs under two names;
4. the log's own rules, replayed: times never go backwards; every approval, review,
   promotion, archive, rollback and config change comes from a member the roles in force
   allowed; every promotion passes its gates again, judged on what was recorded before it
   (with the approval policy and roles in force then: config.approvals is folded like gates);
   evidence comes from a member allowed to record it (canary_slo: `record_slo`, with the
   gateway instance, window and call count); no eval report's threshold is below the floor;
5. the projection (entries, stage pointers, states, approvals, evidence, config incl. roles,
   signers and gates, ...) equals a fresh fold of the log.

Incremental (`after_seq`, from a trusted checkpoint): events up to it are folded for the rule
state but their signatures are not checked again (the checkpoint vouches for their hashes).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmreg.registry import events as ev
from llmreg.registry.audit import AuditReport
from llmreg.registry.events import GENESIS_HASH, body_bytes


@dataclass(frozen=True)
class TrustReport(AuditReport):
    """The chain report (audit.AuditReport: ok, events, head, first bad event, reason) and what
    the full check adds."""

    signed: int = 0
    unsigned: int = 0  # written before signing existed (migration 0007)
    checked_from: int = 1
    signers: dict[str, str] = field(default_factory=dict)  # fingerprint -> member it signed as

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "signed": self.signed, "unsigned": self.unsigned,
                "checked_from": self.checked_from, "signers": self.signers}

    def summary(self) -> str:
        if not self.ok:
            return f"audit FAILED at event {self.first_bad_seq}: {self.reason}"
        scope = f", signatures checked from #{self.checked_from}" if self.checked_from > 1 else ""
        legacy = f", {self.unsigned} unsigned from before signing" if self.unsigned else ""
        return (f"audit ok: {self.events} events, chain intact, {self.signed} signed by "
                f"{len(self.signers)} keys{legacy}{scope}, rules hold, projection matches the log, "
                f"head #{self.head_seq} {self.head_hash}")


class _Fail(Exception):
    def __init__(self, seq: int | None, reason: str):
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def first_difference(stored: dict, folded: dict) -> str | None:
    """The first table and row where the stored projection and the fold of the log differ."""
    for table in folded:
        have, want = stored.get(table, []), folded[table]
        if have == want:
            continue
        extra = [row for row in have if row not in want]
        missing = [row for row in want if row not in have]
        if extra and missing:
            return f"{table} holds {str(extra[0])[:160]} where the log says {str(missing[0])[:160]}"
        if extra:
            return f"{table} holds {str(extra[0])[:160]}, which no event wrote"
        return f"{table} lacks {str(missing[0])[:160]}, which the log holds"
    return None



def _action(type_: str, payload: dict, evidence: dict) -> str | None:
    """The roles action an event of this type needed when it was written (None: not checked here:
    refusal records and gate verdicts are written inside other actions' transactions; evidence
    is `_check_evidence`'s)."""
    if type_ in ev.CONFIG_SEQ_TYPES or type_ in (ev.APIKEY_CREATED, ev.APIKEY_REVOKED):  # configuration
        return "configure"
    if type_ == ev.VERSION_FLAGGED:
        return "record_evidence"
    if type_ == ev.ENTRY_REGISTERED:
        return "configure" if payload.get("imported") else "register"
    if type_ in (ev.APPROVAL_GRANTED, ev.APPROVAL_WITHDRAWN):
        return f"approve:{payload.get('stage')}"
    if type_ == ev.REVIEW_RECORDED:
        return "approve:canary"
    if type_ == ev.STAGE_PROMOTED:
        return "configure" if evidence.get("imported") else f"promote:{payload.get('stage')}"
    if type_ == ev.STAGE_ARCHIVED:
        return "configure" if evidence.get("imported") else "archive"
    if type_ == ev.STAGE_ROLLED_BACK:
        return "rollback"
    if type_ in (ev.EVAL_RECORDED, ev.CANDIDATE_REJECTED):  # a rejection is its own transaction
        return "record_eval"
    return None


def verify_store(store, *, after_seq: int = 0, projection: bool = True, legacy_unsigned: int = 0) -> TrustReport:
    """legacy_unsigned: events up to this seq may be unsigned (written before migration 0007;
    check them against a head or checkpoint you kept from then). Any other unsigned event
    fails: stripping every signature and rehashing must not pass as an old log."""
    head = store.head()
    counts = {"events": 0, "signed": 0, "unsigned": 0}
    signers: dict[str, str] = {}
    try:
        _walk(store, head, after_seq, counts, signers, legacy_unsigned)
        if projection:
            differs = store.projection_differs()
            if differs:
                raise _Fail(None, f"the projection does not match the log: {differs} (someone edited the tables "
                                  "resolve and the gates read; `llmreg db rebuild` restores them from the log)")
    except _Fail as failed:
        return TrustReport(False, counts["events"], head.seq, head.hash, failed.seq, failed.reason,
                           counts["signed"], counts["unsigned"], max(after_seq + 1, 1), signers)
    return TrustReport(True, counts["events"], head.seq, head.hash, None, "ok", counts["signed"], counts["unsigned"],
                       max(after_seq + 1, 1), signers)


def _walk(store, head, after_seq: int, counts: dict, seen: dict, legacy_unsigned: int) -> None:
    from llmreg.registry.audit_replay import ReplayReads, SignatureBatch, workers_wanted
    from llmreg.registry.store.memory import _State

    lines = store.public_keys()
    keys = _KeyCache(lines)
    replay = ReplayReads(_State())
    rows = store.iter_event_rows(until=head.seq)
    workers = workers_wanted(head.seq - after_seq)
    batch = SignatureBatch(rows, lines, after_seq, workers) if workers else None
    try:
        _walk_rows(batch if batch is not None else rows, batch, head, after_seq, counts, seen, legacy_unsigned,
                   keys, replay)
    finally:
        if batch is not None:
            batch.close()


def _walk_rows(rows, batch, head, after_seq: int, counts: dict, seen: dict, legacy_unsigned: int, keys,
               replay) -> None:
    from llmreg.registry.gates_config import GatesConfig
    from llmreg.registry.roles import Roles
    from llmreg.registry.signers import AllowedSigners
    from llmreg.registry.store.memory import apply

    bound: AllowedSigners | None = None
    first_name: dict[str, str] = {}
    roles, gates = Roles.open(), GatesConfig()
    state = replay.folded
    prev_hash, expected, last_time, any_signed = GENESIS_HASH, 1, "", False
    pending: tuple | None = None  # evidence its actor could record only as part of a promotion or archive
    for row in rows:
        seq, time, actor, type_, name, version, env, payload_json, evidence_json, prev, digest, signer, sig = row
        if seq != expected or prev != prev_hash:
            raise _Fail(seq, ev._check_link(seq, expected, prev, prev_hash))
        try:
            computed = ev.chain_hash(prev, body_bytes(seq, time, actor, type_, name, version, env, payload_json,
                                                      evidence_json, prev, signer))
        except (UnicodeError, TypeError, ValueError) as exc:
            raise _Fail(seq, f"event {seq}: unreadable stored field ({exc})") from None
        if computed != digest:
            raise _Fail(seq, f"event {seq}: content does not match its hash (edited after it was written)")
        if time < last_time:
            raise _Fail(seq, f"event {seq}: time {time} is before event {seq - 1}'s {last_time} (backdated or "
                             "reordered)")
        # 2-3. signature and identity
        if signer is None:
            if any_signed:
                raise _Fail(seq, f"event {seq} is not signed, but events before it are (a signature was stripped)")
            if seq > legacy_unsigned:
                raise _Fail(seq, f"event {seq} is not signed (signatures stripped and rehashed, or written before "
                                 "signing: then pass --legacy-unsigned SEQ after checking them against a kept head)")
            counts["unsigned"] += 1
        else:
            any_signed = True
            if seq > after_seq and (batch is None or batch.bad(seq, digest) is not False):
                check = keys.get(signer, bound)
                if check is None:
                    raise _Fail(seq, f"event {seq}: no public key for its signer {signer}")
                if not sig or not check(digest, sig):
                    raise _Fail(seq, f"event {seq}: the signature by {signer} does not verify (rewritten without "
                                     "the signer's private key)")
            counts["signed"] += 1
            if bound is not None:
                member = bound.member_for(signer)
                if member is None:
                    raise _Fail(seq, f"event {seq}: signed by {signer}, a key bound to no member at that point")
                if member != actor:
                    raise _Fail(seq, f"event {seq}: recorded actor {actor!r}, but its key {signer} is {member!r}'s")
            else:
                first = first_name.setdefault(signer, actor)
                if first != actor:
                    raise _Fail(seq, f"event {seq}: key {signer} signs as {actor!r} here and as {first!r} before: "
                                     "one key, two names")
            seen.setdefault(signer, actor)
        # 4. rules
        payload = json.loads(payload_json)
        evidence = json.loads(evidence_json) if evidence_json != "{}" else {}  # most events carry none
        if pending is not None and not _continues(pending, type_, actor, name, version, env):
            raise _Fail(pending[0], f"event {pending[0]}: {pending[1]!r} may not record_evidence under the roles in "
                                    "force then (and no promotion or archive of theirs carried it)")
        if type_ in _PROMOTION_END:
            pending = None
        action = _action(type_, payload, evidence)
        if action is not None and not roles.allows(actor, action):
            raise _Fail(seq, f"event {seq}: {actor!r} may not {action} under the roles in force then")
        if type_ == ev.EVIDENCE_RECORDED:
            pending = _check_evidence(seq, actor, name, version, env, payload, roles)
        elif type_ == ev.EVAL_RECORDED:
            _check_eval(seq, replay, gates, payload)
        elif type_ == ev.ENTRY_REGISTERED and not payload.get("imported") and (payload["entry"]["spec"] or {}).get(
                "gates"):
            _check_entry_gates(seq, replay, gates, payload, name, version)
        elif type_ == ev.STAGE_PROMOTED and not evidence.get("imported"):
            _replay_gates(replay, seq, actor, name, version, env, payload["stage"], gates)
        state.rows.append(row)
        apply(state, seq, time, actor, type_, name, version, env, payload, owned=True)
        replay.observe(type_, name, version, env, payload, actor)
        if type_ == ev.CONFIG_ROLES:
            roles = Roles.from_dict(payload["roles"])
            if payload.get("signers"):
                bound = AllowedSigners.from_payload(payload["signers"])
        elif type_ == ev.CONFIG_GATES:
            gates = GatesConfig.from_dict(payload["gates"])
        prev_hash, expected, last_time = digest, seq + 1, time
        counts["events"] += 1
    if pending is not None:
        raise _Fail(pending[0], f"event {pending[0]}: {pending[1]!r} may not record_evidence under the roles in force "
                                "then")
    if counts["events"] != head.seq:
        raise _Fail(counts["events"] + 1, f"the head says {head.seq} events but the log ends at event "
                                          f"{counts['events']}: events were removed from the end")
    if prev_hash != head.hash:
        raise _Fail(head.seq, "the head hash does not match the last event's hash")


_PROMOTION_END = (ev.STAGE_PROMOTED, ev.STAGE_ARCHIVED)


def _continues(pending: tuple, type_: str, actor: str, name, version, env) -> bool:
    """Evidence attached to a promotion is appended first, then the gate verdicts, then the
    promotion (handlers/stages.py `_judge`), all by the promoter: anything else ends it."""
    if type_ in (ev.GATE_PASSED, ev.GATE_FAILED):
        return True
    return type_ in _PROMOTION_END and pending[1:] == (actor, name, version, env)


def _check_evidence(seq: int, actor: str, name, version, env, payload: dict, roles) -> tuple | None:
    """canary_slo: from a member allowed to record_slo, saying where it was measured. Other
    evidence: record_evidence, or attached to the actor's own promotion (returned as pending)."""
    from llmreg.registry.errors import BadInput
    from llmreg.registry.gate_evidence import check_slo_evidence
    from llmreg.registry.lifecycle import EVIDENCE_CANARY_SLO

    if payload.get("kind") != EVIDENCE_CANARY_SLO:
        return None if roles.allows(actor, "record_evidence") else (seq, actor, name, version, env)
    if not roles.allows(actor, "record_slo"):
        raise _Fail(seq, f"event {seq}: canary_slo evidence by {actor!r}, who may not record_slo under the roles in "
                         "force then (forged SLO figures)")
    try:
        check_slo_evidence(payload.get("data") or {})
    except BadInput as exc:
        raise _Fail(seq, f"event {seq}: canary_slo evidence does not say where it was measured: {exc}") from None
    return None


def _check_entry_gates(seq: int, replay, gates, payload: dict, name, version) -> None:
    """An entry's own gates looser than the policy in force when it was registered (written past
    the registry's check)."""
    from llmreg.registry.handlers.register import looser_entry_gates
    from llmreg.registry.spec import Entry

    entry = Entry.from_dict(payload["entry"])
    replay.remember_entry(name, version, entry)
    found = looser_entry_gates(replay, gates, entry.spec)
    if found is not None:
        raise _Fail(seq, f"event {seq}: the entry's own gates loosen the policy in force then: {found[0]}: {found[1]}")


def _check_eval(seq: int, replay, gates, payload: dict) -> None:
    from llmreg.registry.handlers.records import looser_eval_threshold

    looser = looser_eval_threshold(replay, gates, payload.get("eval") or {})
    if looser is not None:
        raise _Fail(seq, f"event {seq}: the eval report loosens the policy in force then: {looser}")


def _replay_gates(replay, seq: int, actor: str, name: str, version: str, env: str, stage: str, gates) -> None:
    from llmreg.registry.handlers.guard import promotion_context
    from llmreg.registry.lifecycle import check_promotion, summarize

    entry = replay.entry(name, version)
    if entry is None:
        raise _Fail(seq, f"event {seq}: promotes {name}@{version}, which no event before it registered")
    ctx = promotion_context(replay, entry, env, stage, actor, gates)
    results = check_promotion(ctx)
    if not all(r.passed for r in results):
        raise _Fail(seq, f"event {seq}: promotion of {name}@{version} to {stage} in {env} does not pass its gates "
                         f"on what was recorded before it: {summarize(results)}")


class _KeyCache:
    """fingerprint -> check(event hash, signature b64) -> bool, each key parsed once
    (audit_replay.checker: PyNaCl when installed, else `cryptography`)."""

    def __init__(self, lines: dict[str, str]):
        self.lines = lines
        self.parsed: dict[str, Any] = {}

    def get(self, fingerprint: str, bound=None):
        found = self.parsed.get(fingerprint)
        if found is None:
            from llmreg.registry.audit_replay import checker
            from llmreg.registry.keys import PublicKey

            public = bound.public_key(fingerprint) if bound is not None else None
            if public is None and fingerprint in self.lines:
                public = PublicKey.parse(self.lines[fingerprint])
            if public is None or public.fingerprint != fingerprint:
                return None
            # A fingerprint names one key: the verdict does not depend on where the key came from.
            found = self.parsed[fingerprint] = checker(public)
        return found
