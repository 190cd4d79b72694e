"""Callers the gateway knows: keys created and revoked as registry events (hashed, signed;
tests/contract/test_api_keys.py covers the registry side), 401 in OpenAI's
shape without a valid key, scopes on entries, stages and pinned versions, and the canary
bucket chosen by the key, not by the caller, unless the key allows it."""
from __future__ import annotations

import time

import httpx
import openai
import pytest

from llmreg.registry.api_keys import KeyScopes
from llmreg.serving.api_keys import LEGACY_TABLE, Authenticator, RegistryKeyStore, create_key
from serving_fixtures import BOTH_STORES, NAME, make_spec, promote_through, release, wait_until

USER = [{"role": "user", "content": "x"}]


def test_authenticator_modes(registry):
    store = RegistryKeyStore(registry)
    auto = Authenticator("auto", store)
    assert not auto.required  # no key yet: open
    _, secret = create_key(store, "app", actor="alice")
    assert auto.refresh(force=False)  # the head moved: reloaded
    assert not auto.refresh(force=False)  # nothing new: no read of the keys
    assert auto.required and auto.authenticate({"authorization": f"Bearer {secret}"}).name == "app"
    assert Authenticator("keys", RegistryKeyStore(registry)).required
    assert not Authenticator("open", None).required


@BOTH_STORES
def test_without_a_valid_key_401_and_a_revoked_key_stops_within_a_second(registry, start_gateway, store_url):
    release(registry, make_spec())
    key, secret = registry.create_api_key("checkout", actor="alice")
    gw = start_gateway()
    for headers in ({}, {"authorization": "Bearer llmreg-000000000000-wrongwrongwrongwrongwrong"},
                    {"authorization": "Basic abc"}, {"authorization": f"Bearer {secret[:-1]}x"}):
        response = httpx.post(gw.base_url + "/v1/chat/completions", json={"model": NAME, "messages": USER},
                              headers=headers)
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(gw.base_url + "/v1/models").status_code == 401
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=secret, max_retries=0)
    assert client.chat.completions.create(model=NAME, messages=USER).llmreg["entry"] == NAME
    # revoked by another process's registry (the CLI's): the gateway sees it through the log
    from llmreg.registry.api import Registry

    with Registry.open(store_url) as admin:
        admin.revoke_api_key(key.key_id, actor="bob", reason="rotated")
    revoked_at = time.monotonic()

    def refused() -> bool:
        return httpx.get(gw.base_url + "/v1/models", headers={"authorization": f"Bearer {secret}"}).status_code == 401

    wait_until(refused, timeout=5, interval=0.01)
    assert time.monotonic() - revoked_at < 1.0  # the same ~1 s bound as a promotion
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model=NAME, messages=USER)
    assert "revoked" in info.value.message and "bob" in info.value.message


def test_keys_from_the_old_gateway_table_keep_the_gateway_closed(registry, start_gateway, store_url):
    """Pre-0009 keys cannot be signed into the log; they must not open the gateway either."""
    import sqlalchemy as sa

    from llmreg.serving.call_log import make_engine

    release(registry, make_spec())
    old = "llmreg-aaaaaaaaaaaa-" + "s" * 43
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {LEGACY_TABLE} (key_id TEXT PRIMARY KEY, digest TEXT)"))
        conn.execute(sa.text(f"INSERT INTO {LEGACY_TABLE} VALUES ('aaaaaaaaaaaa', 'x')"))
    engine.dispose()
    gw = start_gateway()  # auth.mode auto, no registry key yet
    assert gw.gateway.auth.required
    response = httpx.get(gw.base_url + "/v1/models", headers={"authorization": f"Bearer {old}"})
    assert response.status_code == 401 and "llmreg api-key create" in response.json()["error"]["message"]
    _, secret = registry.create_api_key("new", actor="alice")
    wait_until(lambda: httpx.get(gw.base_url + "/v1/models",
                                 headers={"authorization": f"Bearer {secret}"}).status_code == 200)


def test_scopes_on_entries_stages_and_pinned_versions(registry, start_gateway, store_url):
    first = release(registry, make_spec())
    release(registry, make_spec(name="other-entry"))
    _, narrow = registry.create_api_key("narrow", actor="alice", scopes=KeyScopes(entries=(NAME,)))
    _, wide = registry.create_api_key("debug", actor="alice",
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


def test_a_caller_cannot_choose_its_canary_bucket_unless_its_key_allows(registry, start_gateway, store_url):
    release(registry, make_spec())
    promote_through(registry, registry.register(make_spec(params={"max_tokens": 6}), actor="alice"), to="canary",
                    weight=0.5)
    store = RegistryKeyStore(registry)
    _, fixed = create_key(store, "app", actor="alice")
    _, chooser = create_key(store, "qa", actor="alice", scopes=KeyScopes(choose_bucket=True))
    gw = start_gateway()

    def variants(secret: str) -> set[str]:
        client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=secret, max_retries=0)
        return {client.chat.completions.create(model=NAME, messages=USER, extra_headers={"X-LLMReg-Caller": f"c{i}"},
                                               user=f"u{i}").llmreg["variant"] for i in range(16)}

    assert len(variants(fixed)) == 1  # the key's id decides the bucket: headers and `user` cannot move it
    assert variants(chooser) == {"production", "canary"}


def test_serve_refuses_to_run_open_beyond_loopback(tmp_path):
    from llmreg.registry.errors import BadInput
    from llmreg.serving.app import _loopback, run

    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost") and not _loopback("0.0.0.0")
    with pytest.raises(BadInput, match="--host 0.0.0.0: with no API key") as info:
        run(host="0.0.0.0", port=0, store_url=f"sqlite:///{tmp_path / 'r.db'}", prompts_dir=str(tmp_path))
    assert info.value.field == "host"


def test_cli_creates_lists_and_revokes_keys_as_registry_events(tmp_path):
    import json
    import subprocess
    import sys

    from llmreg.registry.api import Registry

    url = f"sqlite:///{tmp_path / 'r.db'}"

    def llmreg(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "llmreg", *args, "--store", url], capture_output=True,
                              text=True, timeout=120)

    created = llmreg("api-key", "create", "checkout", "--entries", NAME, "--actor", "alice")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("llmreg-") and "shown once" in created.stderr
    listed = llmreg("api-key", "list", "--json")
    [key] = json.loads(listed.stdout)
    assert key["entries"] == [NAME] and key["created_by"] == "alice" and key["revoked_at"] is None
    assert secret not in listed.stdout and "digest" not in listed.stdout
    revoked = llmreg("api-key", "revoke", key["key_id"], "--reason", "rotated", "--actor", "bob")
    assert revoked.returncode == 0 and f"revoked {key['key_id']}" in revoked.stdout
    bad = llmreg("api-key", "revoke", "not-a-key", "--actor", "bob")
    assert bad.returncode == 2 and "key_id" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    with Registry.open(url) as reg:
        assert [e.type for e in reg.events()] == ["apikey.created", "apikey.revoked"]
        assert all(e.signer for e in reg.events()) and not reg.api_keys()[0].active
    verified = llmreg("audit", "verify")
    assert verified.returncode == 0 and "projection matches the log" in verified.stdout
