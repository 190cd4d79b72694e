"""Issue 11, evidence and evals: forged SLO figures and loosened eval thresholds, tried at the
API and as an insider with database access and their own key; `audit verify` replays the rules
on every evidence and eval event. SQLite and PostgreSQL (and the memory store where no SQL is
involved)."""
from __future__ import annotations

import json

import pytest

from contract.backends import sql_only
from contract.scenario import AUTHOR, NAME, SLO_OK, configure, spec, to_canary
from contract.test_trust_attacks import bind_team, released, rewrite
from llmreg.registry.errors import BadInput, Forbidden
from llmreg.registry.events import body_bytes, chain_hash


def resign(backend, reg, seq: int, actor: str, edit_payload) -> None:
    """An insider rewrites event `seq` (actor and payload) and re-signs it with `actor`'s own key;
    every later hash is recomputed and re-signed by its own signer (the test holds all keys)."""
    from llmreg.registry.signatures import sign_event_hash

    by_fingerprint = {}
    for member in ("admin", "alice", "bob", "carol", "ci", "release-bot", "system:slo-guard"):
        key = reg.keys.key_for(member)
        by_fingerprint[key.fingerprint] = key

    def edit(rows):
        prev = rows[0][9]
        for row in rows:
            row[9] = prev
            if row[0] == seq:
                key = reg.keys.key_for(actor)
                row[2], row[11] = actor, key.fingerprint
                row[7] = json.dumps(edit_payload(json.loads(row[7])), sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False)
            row[10] = chain_hash(prev, body_bytes(*row[:10], row[11]))
            if row[0] >= seq:
                row[12] = sign_event_hash(by_fingerprint[row[11]], row[10])[0]
            prev = row[10]
    rewrite(backend, reg, edit, rehash=False)


def slo_evidence_seq(reg) -> int:
    (event,) = [e for e in reg.events(types=("evidence.recorded",)) if e.payload["kind"] == "canary_slo"]
    return event.seq


@pytest.mark.parametrize(("field", "data"), [
    ("data.instance", {k: v for k, v in SLO_OK.items() if k != "instance"}),
    ("data.window", {k: v for k, v in SLO_OK.items() if k != "window"}),
    ("data.calls", {k: v for k, v in SLO_OK.items() if k != "calls"}),
    ("data.window.end", {**SLO_OK, "window": {"start": "2026-06-10T10:00:00Z", "end": "2026-06-10T09:00:00Z"}}),
    ("data.window.start", {**SLO_OK, "window": {"start": "yesterday", "end": "2026-06-10T09:00:00Z"}}),
])
def test_slo_evidence_that_does_not_say_where_it_was_measured_is_refused(reg, field, data):
    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    with pytest.raises(BadInput) as info:
        reg.record_evidence(NAME, "1.0.0", "default", "canary_slo", data, actor="system:slo-guard")
    assert info.value.field == field and "\n" not in str(info.value) and str(info.value).startswith(field)
    assert reg.store.head_seq() == head  # nothing written


def test_slo_evidence_only_from_a_member_allowed_to_record_it(reg):
    """alice (dev) may record evidence, but not canary figures; release-bot may promote, but not
    vouch for the canary in the same breath; the guard's key may."""
    bind_team(reg)
    reg.configure_roles({"roles": {"admin": ["*"], "dev": ["register", "promote:*", "record_eval", "record_evidence"],
                                   "reviewer": ["approve:*", "read"], "release": ["promote:*", "rollback"],
                                   "slo-guard": ["record_slo"]},
                         "members": {"admin": ["admin"], "alice": ["dev"], "bob": ["reviewer"], "carol": ["reviewer"],
                                     "ci": ["dev"], "release-bot": ["release"], "system:slo-guard": ["slo-guard"]}},
                        actor="admin")
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    to_canary(reg, "1.0.0")
    reg.approve(NAME, "1.0.0", "production", actor="bob")
    reg.approve(NAME, "1.0.0", "production", actor="carol")
    for actor in ("alice", "ci"):
        with pytest.raises(Forbidden, match="may not record_slo"):
            reg.record_evidence(NAME, "1.0.0", "default", "canary_slo", SLO_OK, actor=actor)
    with pytest.raises(Forbidden, match="may not record_slo"):
        reg.promote(NAME, "1.0.0", "production", actor="release-bot", evidence={"kind": "canary_slo", **SLO_OK})
    assert reg.status(NAME).of("1.0.0", "default") == "canary"
    assert not [e for e in reg.events(types=("evidence.recorded",))]  # only the refusals were recorded
    reg.record_evidence(NAME, "1.0.0", "default", "archive_checklist", {"ok": True}, actor="alice")  # other kinds
    reg.record_evidence(NAME, "1.0.0", "default", "canary_slo", SLO_OK, actor="system:slo-guard")
    reg.promote(NAME, "1.0.0", "production", actor="release-bot")
    assert reg.verify_audit().ok


def test_forged_slo_evidence_written_into_the_log_is_caught_on_replay(reg, backend):
    """ci holds its own key and write access to the database: it re-signs the guard's evidence as
    its own (better figures). Signatures verify; the roles in force never let ci record_slo."""
    sql_only(reg)
    bind_team(reg)
    released(reg)
    seq = slo_evidence_seq(reg)
    resign(backend, reg, seq, "ci", lambda p: {**p, "data": {**p["data"], "error_rate": 0.0}})
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == seq, report.summary()
    assert "may not record_slo" in report.reason and "forged SLO figures" in report.reason


def test_slo_evidence_stripped_of_its_location_is_caught_on_replay(reg, backend):
    sql_only(reg)
    bind_team(reg)
    released(reg)
    seq = slo_evidence_seq(reg)
    strip = lambda p: {**p, "data": {k: v for k, v in p["data"].items() if k != "instance"}}  # noqa: E731
    resign(backend, reg, seq, "system:slo-guard", strip)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == seq, report.summary()
    assert "does not say where it was measured" in report.reason and "data.instance" in report.reason


def test_evidence_from_a_member_without_record_evidence_is_caught_unless_it_rode_a_promotion(reg, backend):
    """bob (reviewer: approve, read) cannot record evidence; an insider re-signs alice's as bob's."""
    sql_only(reg)
    bind_team(reg)
    reg.configure_roles({"roles": {"admin": ["*"], "dev": ["register", "promote:*", "record_eval", "record_evidence"],
                                   "reviewer": ["approve:*", "read"], "slo-guard": ["record_slo"]},
                         "members": {"admin": ["admin"], "alice": ["dev"], "bob": ["reviewer"],
                                     "system:slo-guard": ["slo-guard"]}}, actor="admin")
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    event = reg.record_evidence(NAME, "1.0.0", "default", "archive_checklist", {"ok": True}, actor="alice")
    reg.promote(NAME, "1.0.0", "staging", actor="alice", evidence={"ticket": "OPS-1"})
    assert reg.verify_audit().ok
    resign(backend, reg, event.seq, "bob", lambda p: p)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == event.seq, report.summary()
    assert "'bob' may not record_evidence" in report.reason


def test_an_eval_threshold_below_the_floor_is_refused_and_caught_on_replay(reg, backend):
    reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
    reg.register(spec(eval=None), actor=AUTHOR)
    head = reg.store.head_seq()
    loose = {"suite": "triage-eval-v4", "score": 0.6, "run": "r1", "threshold": 0.5}
    with pytest.raises(BadInput, match=r"^report.threshold: 0.5 is below the registry's floor 0.9 \(gates.yaml"):
        reg.record_eval(NAME, "1.0.0", loose, actor="ci")
    assert reg.store.head_seq() == head
    event = reg.record_eval(NAME, "1.0.0", {**loose, "score": 0.95, "threshold": 0.92}, actor="ci")
    assert reg.verify_audit().ok
    sql_only(reg)
    resign(backend, reg, event.seq, "ci", lambda p: {**p, "eval": {**p["eval"], "threshold": 0.5}})
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == event.seq, report.summary()
    assert "loosens the policy" in report.reason and "floor 0.9" in report.reason


def test_entry_gates_looser_than_the_floor_written_into_the_log_are_caught_on_replay(reg, backend):
    """The registry refuses gates looser than the floor; the author, holding their own key and the
    database, rewrites their registration to eval_threshold 0.05 anyway."""
    reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
    with pytest.raises(BadInput, match=r"^gates.eval_threshold: 0.05 is below the registry's floor 0.9"):
        reg.register(spec(gates={"eval_threshold": 0.05}), actor=AUTHOR)
    event = reg.events(types=("entry.registered",))
    assert event == []
    reg.register(spec(gates={"eval_threshold": 0.95}), actor=AUTHOR)  # tighter: fine
    assert reg.verify_audit().ok
    sql_only(reg)
    (registered,) = reg.events(types=("entry.registered",))

    def loosen(payload):
        payload["entry"]["spec"]["gates"]["eval_threshold"] = 0.05
        return payload
    resign(backend, reg, registered.seq, AUTHOR, loosen)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == registered.seq, report.summary()
    assert "loosen the policy in force then: gates.eval_threshold: 0.05 is below" in report.reason
