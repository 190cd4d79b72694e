"""Callers the gateway knows: keys created and revoked (hashed, audited), 401 in OpenAI's
shape without a valid key, scopes on entries, stages and pinned versions, and the canary
bucket chosen by the key, not by the caller, unless the key allows it."""
from __future__ import annotations

import httpx
import openai
import pytest

from llmreg.serving.api_keys import (Authenticator, KeyScopes, MemoryKeyStore, SqlKeyStore, create_key, digest,
                                     revoke_key)
from serving_fixtures import NAME, make_spec, promote_through, release, wait_until

USER = [{"role": "user", "content": "x"}]


@pytest.fixture(params=["memory", "sql"])
def key_store(request, store_url):
    if request.param == "memory":
        yield MemoryKeyStore()
        return
    store = SqlKeyStore(store_url)
    yield store
    store.close()


def test_key_store_contract(key_store):
    """The same behaviour from the in-memory fake and the SQL store: hashed, revocable, audited."""
    key, secret = create_key(key_store, "checkout", actor="alice", scopes=KeyScopes(stages=("production", "canary")))
    assert secret.startswith(f"llmreg-{key.key_id}-") and key.digest == digest(secret) and secret not in repr(key)
    [stored] = key_store.keys()
    assert stored.digest == key.digest and stored.scopes.stages == ("production", "canary") and stored.active
    revoked = revoke_key(key_store, key.key_id, actor="bob", reason="leaked")
    assert not revoked.active and revoked.revoked_by == "bob"
    assert revoke_key(key_store, key.key_id, actor="carol").revoked_by == "bob"  # revoking twice changes nothing
    events = key_store.events() if callable(getattr(key_store, "events", None)) else key_store.events
    assert [(e["action"], e["actor"]) for e in events] == [("created", "alice"), ("revoked", "bob")]


def test_authenticator_modes():
    store = MemoryKeyStore()
    auto = Authenticator("auto", store)
    assert not auto.required  # no key yet: open
    _, secret = create_key(store, "app", actor="alice")
    auto.refresh()
    assert auto.required and auto.authenticate({"authorization": f"Bearer {secret}"}).name == "app"
    assert Authenticator("keys", MemoryKeyStore()).required
    assert not Authenticator("open", None).required


def test_without_a_valid_key_the_answer_is_401_in_openai_shape(registry, start_gateway, store_url):
    release(registry, make_spec())
    store = SqlKeyStore(store_url)
    key, secret = create_key(store, "checkout", actor="alice")
    gw = start_gateway()
    for headers in ({}, {"authorization": "Bearer llmreg-000000000000-wrongwrongwrongwrongwrong"},
                    {"authorization": "Basic abc"}):
        response = httpx.post(gw.base_url + "/v1/chat/completions", json={"model": NAME, "messages": USER},
                              headers=headers)
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(gw.base_url + "/v1/models").status_code == 401
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=secret, max_retries=0)
    assert client.chat.completions.create(model=NAME, messages=USER).llmreg["entry"] == NAME
    revoke_key(store, key.key_id, actor="bob", reason="rotated")
    wait_until(lambda: not gw.gateway.auth._by_id[key.key_id].active, timeout=5)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=NAME, messages=USER)
    assert "revoked" in info.value.message
    store.close()


def test_scopes_on_entries_stages_and_pinned_versions(registry, start_gateway, store_url):
    first = release(registry, make_spec())
    release(registry, make_spec(name="other-entry"))
    store = SqlKeyStore(store_url)
    _, narrow = create_key(store, "narrow", actor="alice", scopes=KeyScopes(entries=(NAME,)))
    _, wide = create_key(store, "debug", actor="alice",
                         scopes=KeyScopes(stages=("production", "staging"), pinned=True))
    gw = start_gateway()
    narrow_client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=narrow, max_retries=0)
    wide_client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=wide, max_retries=0)
    for model, says in (("other-entry", "may not call entry"), (f"{NAME}@staging", "may not reach stage"),
                        (f"{NAME}@{first.version}", "may not call pinned versions")):
        with pytest.raises(openai.PermissionDeniedError) as info:
            narrow_client.chat.completions.create(model=model, messages=USER)
        assert says in info.value.message
    assert wide_client.chat.completions.create(model=f"{NAME}@{first.version}", messages=USER).llmreg["version"] \
        == first.version
    store.close()


def test_a_caller_cannot_choose_its_canary_bucket_unless_its_key_allows(registry, start_gateway, store_url):
    release(registry, make_spec())
    promote_through(registry, registry.register(make_spec(params={"max_tokens": 6}), actor="alice"), to="canary",
                    weight=0.5)
    store = SqlKeyStore(store_url)
    _, fixed = create_key(store, "app", actor="alice")
    _, chooser = create_key(store, "qa", actor="alice", scopes=KeyScopes(choose_bucket=True))
    gw = start_gateway()

    def variants(secret: str) -> set[str]:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=secret, max_retries=0)
        return {client.chat.completions.create(model=NAME, messages=USER, extra_headers={"X-LLMReg-Caller": f"c{i}"},
                                               user=f"u{i}").llmreg["variant"] for i in range(16)}

    assert len(variants(fixed)) == 1  # the key's id decides the bucket: headers and `user` cannot move it
    assert variants(chooser) == {"production", "canary"}
    store.close()


def test_serve_refuses_to_run_open_beyond_loopback(tmp_path):
    from llmreg.registry.errors import BadInput
    from llmreg.serving.app import _loopback, run

    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost") and not _loopback("0.0.0.0")
    with pytest.raises(BadInput, match="--host 0.0.0.0: with no API key") as info:
        run(host="0.0.0.0", port=0, store_url=f"sqlite:///{tmp_path / 'r.db'}", prompts_dir=str(tmp_path))
    assert info.value.field == "host"
