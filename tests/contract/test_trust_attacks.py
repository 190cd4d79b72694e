"""Issue 11's attacks, each tried as an attacker would, on SQLite and PostgreSQL (and the memory
store where no SQL is involved): none goes unnoticed now.

The attacker has write access to the database (triggers dropped, as `disable_append_only`)
and this project's code, but not the other members' private keys."""
from __future__ import annotations

import json

import pytest

from contract.backends import disable_append_only, placeholder, sql_only
from contract.scenario import AUTHOR, NAME, SLO_OK, configure, spec, to_canary, to_production
from llmreg.registry.errors import Forbidden, IntegrityError, Unauthenticated
from llmreg.registry.events import GENESIS_HASH, body_bytes, chain_hash
from llmreg.registry.identity import KeySource

COLUMNS = "seq, time, actor, type, name, version, env, payload, evidence, prev_hash, hash, signer, signature"


def released(reg) -> None:
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    to_production(reg, "1.0.0")


def rewrite(backend, reg, edit, *, rehash: bool = True) -> None:
    """Read every event row, let `edit(rows)` change them, recompute every hash with the
    project's own encoder (signatures cannot be recomputed without the keys), write back."""
    disable_append_only(backend)
    rows = [list(r) for r in reg.store.iter_event_rows()]
    edit(rows)
    if rehash:
        prev = GENESIS_HASH
        for row in rows:
            row[9] = prev
            row[10] = chain_hash(prev, body_bytes(*row[:9], prev, row[11]))
            prev = row[10]
    ph = placeholder(backend)
    conn = backend.connect()
    try:
        conn.execute("DELETE FROM events")
        for row in rows:
            conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join([ph] * 13)})", tuple(row))
        last = rows[-1]
        conn.execute(f"UPDATE head SET seq = {ph}, hash = {ph}, time = {ph}", (last[0], last[10], last[1]))
        conn.commit()
    finally:
        conn.close()


def execute(backend, sql: str, params: tuple = ()) -> None:
    conn = backend.connect()
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def test_an_untouched_release_verifies(reg):
    released(reg)
    report = reg.verify_audit()
    assert report.ok, report.reason
    assert report.signed == report.events == reg.store.head_seq()
    assert set(report.signers.values()) >= {"alice", "bob", "carol", "ci", "release-bot", "system:slo-guard"}


# ---------------------------------------------------------------------- the log rewritten

def test_rewriting_who_approved_and_rehashing_is_caught_by_the_signature(reg, backend):
    sql_only(reg)
    released(reg)
    (approval,) = [e for e in reg.events(types=("approval.granted",)) if e.actor == "carol"]

    def edit(rows):
        rows[approval.seq - 1][2] = "dana"
    rewrite(backend, reg, edit)
    assert reg.store.verify_chain().ok  # the unkeyed chain alone is fooled
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == approval.seq
    assert "signature" in report.reason and "does not verify" in report.reason


def test_stripping_every_signature_and_rehashing_is_caught(reg, backend):
    sql_only(reg)
    released(reg)

    def edit(rows):
        for row in rows:
            row[11] = row[12] = None
    rewrite(backend, reg, edit)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == 1 and "not signed" in report.reason


def test_reordering_events_is_caught(reg, backend):
    sql_only(reg)
    released(reg)

    def edit(rows):
        rows[3][0], rows[4][0] = rows[4][0], rows[3][0]
        rows[3], rows[4] = rows[4], rows[3]
    rewrite(backend, reg, edit)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == 4


def test_backdating_is_caught_even_when_rehashed(reg, backend):
    sql_only(reg)
    released(reg)
    last = reg.store.head_seq()

    def edit(rows):
        rows[last - 1][1] = "2020-01-01T00:00:00.000000Z"
    rewrite(backend, reg, edit)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == last


def test_backdating_with_the_actors_own_key_breaks_the_time_rule(reg, backend):
    """Even the signer of the last event, re-signing it, cannot move it before its predecessor."""
    sql_only(reg)
    released(reg)
    last = reg.store.head_seq()
    key = reg.keys.key_for("release-bot")

    def edit(rows):
        row = rows[last - 1]
        row[1] = "2020-01-01T00:00:00.000000Z"
        row[10] = chain_hash(row[9], body_bytes(*row[:10], row[11]))
        from llmreg.registry.signatures import sign_event_hash

        row[12] = sign_event_hash(key, row[10])[0]
    rewrite(backend, reg, edit, rehash=False)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == last and "before event" in report.reason


def test_truncation_with_head_reset_is_caught_by_a_checkpoint_and_by_the_next_write(open_registry, backend):
    from llmreg.registry.witness import check_checkpoint, take_checkpoint, trusted_signers

    reg = open_registry()
    sql_only(reg)
    released(reg)
    cp = take_checkpoint(reg, reg.keys.key_for("admin"))
    keep = cp.seq - 3
    kept = [r for r in reg.store.iter_event_rows() if r[0] == keep][0]
    disable_append_only(backend)
    ph = placeholder(backend)
    execute(backend, f"DELETE FROM events WHERE seq > {ph}", (keep,))
    execute(backend, f"UPDATE head SET seq = {ph}, hash = {ph}, time = {ph}", (keep, kept[10], kept[1]))
    assert reg.store.verify_chain().ok  # consistent on its own
    check = check_checkpoint(reg, cp, trusted_signers(reg))
    assert not check.ok and check.kind == "truncated"
    with pytest.raises(IntegrityError, match="events were removed"):
        reg.register(spec(params={"max_tokens": 1}), actor=AUTHOR)
    assert reg.store.head_seq() == keep


def test_a_head_row_that_does_not_match_the_log_refuses_the_next_write(reg, backend):
    sql_only(reg)
    released(reg)
    execute(backend, f"UPDATE head SET hash = {placeholder(backend)}", ("f" * 64,))
    fresh = type(reg).open(reg.store.url.url, artifacts=str(reg.artifacts.root))
    with pytest.raises(IntegrityError, match="the log does not end there"):
        fresh.register(spec(params={"max_tokens": 1}), actor=AUTHOR)
    fresh.close()


# ---------------------------------------------------------------------- what is served

def test_editing_a_stage_pointer_is_caught(reg, backend):
    sql_only(reg)
    released(reg)
    reg.register(spec(params={"max_tokens": 999}), actor=AUTHOR)  # 1.0.1, never reviewed
    execute(backend, f"UPDATE stage_pointers SET version = {placeholder(backend)} WHERE stage = 'production'",
            ("1.0.1",))
    report = reg.verify_audit()
    assert not report.ok and "stage_pointers" in report.reason and "1.0.1" in report.reason


def test_opening_every_role_in_the_config_table_is_caught(reg, backend):
    sql_only(reg)
    reg.configure_roles({"roles": {"admin": ["*"]}, "members": {"admin": ["admin"]}}, actor="admin")
    execute(backend, f"UPDATE config SET value = {placeholder(backend)} WHERE key = 'roles'",
            (json.dumps({"open": True}),))
    report = reg.verify_audit()
    assert not report.ok and "config" in report.reason


# ---------------------------------------------------------------------- identity

def test_one_key_cannot_approve_under_two_names(reg):
    """Embedded mode: the author's key signs as alice; ALICE and alice2 are refused, nothing logged."""
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    to_canary(reg, "1.0.0")
    head = reg.store.head_seq()
    alice_key = reg.keys.key_for(AUTHOR)
    as_alice = type(reg)(reg.store, reg.artifacts, keys=KeySource(key=alice_key))
    for name in ("ALICE", "alice2"):
        with pytest.raises(Unauthenticated, match="already signs as 'alice'"):
            as_alice.approve(NAME, "1.0.0", "production", actor=name)
    assert reg.store.head_seq() == head


def bind_team(reg, *members: str) -> None:
    roles = {"roles": {"admin": ["*"], "dev": ["register", "promote:*", "record_eval"],
                       "reviewer": ["approve:*", "read"], "release": ["promote:*", "rollback", "archive"],
                       "slo-guard": ["record_slo"]},
             "members": {"admin": ["admin"], "alice": ["dev"], "bob": ["reviewer"], "carol": ["reviewer"],
                         "ci": ["dev"], "release-bot": ["release"], "system:slo-guard": ["slo-guard"]}}
    signers = {m: [reg.keys.key_for(m).public.openssh()] for m in members or roles["members"]}
    reg.configure_roles(roles, actor="admin", signers=signers)


def test_with_keys_bound_an_actor_name_is_only_an_assertion(reg):
    bind_team(reg)
    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    bob = type(reg)(reg.store, reg.artifacts, keys=KeySource(key=reg.keys.key_for("bob")))
    for forged in ("carol", "admin", "system:slo-guard", "release-bot"):
        with pytest.raises(Unauthenticated, match="is 'bob''s"):
            bob.approve(NAME, "1.0.0", "production", actor=forged)
    with pytest.raises(Unauthenticated):  # `roles set --actor admin` no longer makes anyone an admin
        bob.configure_roles({"open": True}, actor="admin")
    with pytest.raises(Unauthenticated):  # forged SLO evidence
        bob.record_evidence(NAME, "1.0.0", "default", "canary_slo", SLO_OK, actor="system:slo-guard")
    assert reg.store.head_seq() == head
    assert bob.approve(NAME, "1.0.0", "production", actor="BOB").actor == "bob"  # recorded as bound


def test_an_unbound_key_cannot_grow_the_log(reg):
    from llmreg.registry.keys import SigningKey

    bind_team(reg)
    head = reg.store.head_seq()
    stranger = type(reg)(reg.store, reg.artifacts, keys=KeySource(key=SigningKey.generate()))
    for _ in range(50):
        with pytest.raises(Unauthenticated, match="not bound to any member"):
            stranger.register(spec(), actor="alice")
    assert reg.store.head_seq() == head


def test_new_bindings_must_keep_the_admin_able_to_configure(reg):
    from llmreg.registry.errors import BadInput

    with pytest.raises(BadInput, match="would not be bound"):
        reg.configure_roles({"roles": {"admin": ["*"]}, "members": {"admin": ["admin"]}}, actor="admin",
                            signers={"admin": [reg.keys.key_for("bob").public.openssh()]})


def test_a_bound_team_releases_and_verifies(reg):
    bind_team(reg)
    released(reg)
    report = reg.verify_audit()
    assert report.ok, report.reason


def test_an_approval_by_a_member_without_the_role_is_caught_on_replay(reg, backend):
    """A member's own key, but a role they never held: the roles rule fails on replay."""
    sql_only(reg)
    bind_team(reg)
    released(reg)
    (approval,) = [e for e in reg.events(types=("approval.granted",)) if e.actor == "carol"]
    ci_key = reg.keys.key_for("ci")

    def edit(rows):  # ci re-signs carol's approval as itself (it holds its own key)
        from llmreg.registry.signatures import sign_event_hash

        prev = rows[0][9]
        for row in rows:
            row[9] = prev
            if row[0] == approval.seq:
                row[2], row[11] = "ci", ci_key.fingerprint
            row[10] = chain_hash(prev, body_bytes(*row[:10], row[11]))
            if row[0] == approval.seq:
                row[12] = sign_event_hash(ci_key, row[10])[0]
            prev = row[10]
    rewrite(backend, reg, edit, rehash=False)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == approval.seq
    assert "may not approve:production" in report.reason


def test_export_verifies_offline(reg, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from llmreg.registry.audit_export import ExportedEvent, write_export
    from llmreg.registry.keys import PublicKey

    bind_team(reg)
    released(reg)
    out = tmp_path / "export.jsonl"
    with open(out, "w", encoding="utf-8") as handle:
        write_export(handle, registry_id="test", events=(ExportedEvent(*r) for r in reg.store.iter_event_rows()),
                     keys=[PublicKey.parse(line) for line in reg.store.public_keys().values()])
    tool = Path(__file__).resolve().parents[2] / "tools" / "verify_audit_export.py"
    done = subprocess.run([sys.executable, str(tool), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_refusals_by_an_authenticated_member_are_still_recorded(reg):
    bind_team(reg)
    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    with pytest.raises(Forbidden):
        reg.approve(NAME, "1.0.0", "production", actor="release-bot")
    assert reg.store.head_seq() == head + 1


def test_a_clock_far_behind_the_head_is_refused_not_pinned(reg, backend, monkeypatch):
    from contract.backends import SqliteFile
    from llmreg.registry.errors import Refused
    from llmreg.registry.store import sql

    sql_only(reg)
    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    monkeypatch.setattr(sql, "utc_now", lambda: "2020-01-01T00:00:00.000000Z")
    if isinstance(backend, SqliteFile):
        with pytest.raises(Refused, match="behind the log's last event"):
            reg.register(spec(params={"max_tokens": 1}), actor=AUTHOR)
        assert reg.store.head_seq() == head
    else:  # PostgreSQL stamps events with the server's clock: the client's does not matter
        event = reg.register(spec(params={"max_tokens": 1}), actor=AUTHOR)
        assert reg.events(name=NAME)[-1].time > "2026"
        assert event.version == "1.0.1"


def test_history_import_is_refused_onto_a_native_name_and_marked_where_shown(reg):
    from llmreg.registry.errors import Refused

    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    imported = {**spec(params={"max_tokens": 7}), "version": "0.9.0", "status": "production"}
    with pytest.raises(Refused, match="already has native versions"):
        reg.register(imported, actor="admin", import_history=True)
    assert reg.store.head_seq() == head + 1  # the refusal is recorded, nothing else
    other = {**spec(params={"max_tokens": 7}), "name": "legacy-bot", "version": "3.1.0", "status": "production"}
    entry = reg.register(other, actor="admin", import_history=True)
    assert entry.bump == "import"
    assert reg.resolve("legacy-bot").to_dict()["imported"] is True
    assert "Imported history" in reg.card("legacy-bot", "3.1.0")
    graph = reg.lineage("legacy-bot", "3.1.0")
    assert "imported by admin" in str(graph.to_dict() if hasattr(graph, "to_dict") else graph)
    assert reg.verify_audit().ok


def test_checkpoints_published_to_git_witness_the_store(reg, tmp_path):
    import subprocess

    from llmreg.registry.witness import check_against_newest, take_checkpoint, write_checkpoint_to_git

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    released(reg)
    assert check_against_newest(reg, str(repo)).kind == "none"  # nothing published yet
    cp = take_checkpoint(reg, reg.keys.key_for("admin"))
    path, sha = write_checkpoint_to_git(str(repo), cp)
    assert sha and path.endswith(f"{cp.seq:012d}.json")
    log = subprocess.run(["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True).stdout
    assert f"audit checkpoint #{cp.seq}" in log
    reg.register(spec(params={"max_tokens": 5}), actor=AUTHOR)  # the log grows past it: still extends it
    check = check_against_newest(reg, str(repo))
    assert check.ok and check.kind == "ok", check.reason
