"""Gateway API keys as registry state, on SQLite, PostgreSQL and the memory store: signed
events that hold the digest (never the secret), a projection folded from them that `audit
verify` checks, `configure` (admin) required once roles are set, bad input refused unwritten."""
from __future__ import annotations

import pytest

from contract.backends import placeholder, sql_only
from llmreg.registry.api_keys import KeyScopes, digest
from llmreg.registry.audit_check import verify_store
from llmreg.registry.errors import BadInput, Forbidden, NotFound

ROLES = {"roles": {"admin": ["*"], "developer": ["read", "register"]},
         "members": {"admin": ["admin"], "alice": ["developer"]}}


def test_keys_are_signed_events_holding_only_the_digest(reg):
    key, secret = reg.create_api_key("checkout", actor="admin", scopes=KeyScopes(entries=("support-triage",),
                                                                                stages=("production", "canary")))
    assert secret.startswith(f"llmreg-{key.key_id}-") and key.digest == digest(secret) and secret not in repr(key)
    [created] = reg.events(types=("apikey.created",))
    assert created.signer and created.signature and created.actor == "admin"
    assert dict(created.payload) == {"key_id": key.key_id, "digest": digest(secret), "label": "checkout",
                                     "scopes": {"entries": ["support-triage"], "stages": ["production", "canary"],
                                                "pinned": False, "choose_bucket": False}}
    # the secret is in no stored event row, in any field
    assert not any(secret[20:] in str(row) for row in reg.store.iter_event_rows())
    revoked = reg.revoke_api_key(key.key_id, actor="admin", reason="leaked")
    assert (revoked.active, revoked.revoked_by, revoked.reason, revoked.revoked_seq) == (False, "admin", "leaked",
                                                                                       created.seq + 1)
    head = reg.store.head_seq()
    assert reg.revoke_api_key(key.key_id, actor="admin", reason="again").reason == "leaked"  # first one stands
    assert reg.store.head_seq() == head  # and nothing was appended
    [listed] = reg.api_keys()
    assert listed == revoked and listed.scopes.stages == ("production", "canary")
    report = verify_store(reg.store)
    assert report.ok, report.reason


def test_the_projection_is_rebuilt_from_the_log(reg):
    kept, _ = reg.create_api_key("a", actor="admin")
    gone, _ = reg.create_api_key("b", actor="admin", scopes=KeyScopes(pinned=True))
    reg.revoke_api_key(gone.key_id, actor="admin")
    before = reg.store.dump_projection()
    assert [row[0] for row in before["api_keys"]] == sorted([kept.key_id, gone.key_id])
    reg.rebuild_projection()
    assert reg.store.dump_projection() == before
    assert reg.store.projection_differs() is None


def test_an_edited_key_row_fails_the_audit(reg, backend):
    sql_only(reg)
    key, _ = reg.create_api_key("a", actor="admin")
    reg.revoke_api_key(key.key_id, actor="admin", reason="rotated")
    conn = backend.connect()
    try:  # an attacker re-activates a revoked key in the table the gateway reads
        conn.execute(f"UPDATE api_keys SET revoked_seq = NULL, revoked_at = NULL WHERE key_id = {placeholder(backend)}",
                     (key.key_id,))
        if hasattr(conn, "commit"):
            conn.commit()
    finally:
        conn.close()
    report = verify_store(reg.store)
    assert not report.ok and "api_keys" in report.reason and key.key_id in report.reason


def test_only_a_member_who_may_configure_manages_keys(reg):
    reg.configure_roles(ROLES, actor="admin")
    with pytest.raises(Forbidden, match="may not configure"):
        reg.create_api_key("sneaky", actor="alice")
    key, _ = reg.create_api_key("app", actor="admin")
    with pytest.raises(Forbidden, match="may not configure"):
        reg.revoke_api_key(key.key_id, actor="alice")
    assert reg.api_keys()[0].active and [e.payload["action"] for e in reg.events(types=("action.refused",))] == [
        "configure", "configure"]
    assert verify_store(reg.store).ok


def test_bad_input_names_the_field_and_writes_nothing(reg):
    head = reg.store.head_seq()
    for call, field in ((lambda: reg.create_api_key("", actor="admin"), "name"),
                        (lambda: reg.create_api_key("x", actor="admin", scopes=KeyScopes(stages=("prod",))), "stages"),
                        (lambda: reg.revoke_api_key("nope", actor="admin"), "key_id")):
        with pytest.raises(BadInput) as info:
            call()
        assert info.value.field == field
    with pytest.raises(NotFound, match="no API key"):
        reg.revoke_api_key("0123456789ab", actor="admin")
    assert reg.store.head_seq() == head
