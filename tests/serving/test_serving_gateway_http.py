"""The gateway over real HTTP with the official openai client: resolve, render, params,
identity on every response, the per-call log, /v1/models, and OpenAI-style errors."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from llmreg.serving.call_log import read_rows
from llmreg.serving.config import UpstreamConfig
from serving_fixtures import NAME, make_spec, release, write_prompt


def echoed(content: str) -> dict:
    return json.loads(content)


def test_chat_resolves_renders_and_applies_params(registry, start_gateway, upstream):
    entry = release(registry, make_spec(params={"max_tokens": 5, "temperature": 0, "stop": ["\n"],
                                                "logit_bias": {"50256": -100}},
                                        serving={"messages": "chat", "allow": {"top_p": [0.1, 1.0]}}))
    gw = start_gateway()
    client = gw.client()
    raw = client.chat.completions.with_raw_response.create(
        model=f"{NAME}@production",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "my card was charged twice"}],
        max_tokens=4, top_p=0.5, temperature=0)
    response = raw.parse()
    sent = echoed(response.choices[0].message.content)
    assert sent["model"] == "gpt-5-mini-2026-01-01"  # the pinned snapshot, never the alias
    # serving.messages 'chat': the system turn is kept as a message, the user turn goes through the template
    assert sent["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "ticket : my card was charged twice label :"}]
    assert sent["max_tokens"] == 4 and sent["temperature"] == 0  # under the cap; the pinned value itself
    assert sent["stop"] == ["\n"] and sent["logit_bias"] == {"50256": -100}  # nested params arrive as JSON
    assert sent["top_p"] == 0.5  # serving.allow lets callers choose top_p within [0.1, 1]
    assert response.system_fingerprint.endswith(f":{NAME}@{entry.version}")
    assert raw.headers["x-llmreg-version"] == f"{NAME}@{entry.version}"
    assert raw.headers["x-llmreg-env"] == "default"
    assert response.model == f"{NAME}@{entry.version}"
    assert response.llmreg == {"entry": NAME, "version": entry.version, "env": "default", "stage": "production",
                               "variant": "production", "request_id": raw.headers["x-request-id"]}
    gw.flush()
    rows = read_rows(gw.engine)
    assert len(rows) == 1
    logged = rows[0]
    assert (logged["name"], logged["version"], logged["env"], logged["stage"], logged["variant"], logged["status"]) == \
        (NAME, entry.version, "default", "production", "production", 200)
    assert logged["request_id"] == raw.headers["x-request-id"]
    assert logged["prompt_tokens"] > 0 and logged["completion_tokens"] == 1
    assert logged["latency_ms"] >= logged["upstream_ms"] > 0


def test_refused_overrides_name_the_field_and_the_pinned_value(registry, start_gateway, upstream):
    release(registry, make_spec(params={"max_new_tokens": 5, "temperature": 0}))
    client = start_gateway().client()
    user = [{"role": "user", "content": "x"}]
    cases = [({"max_tokens": 6}, "max_tokens", "cap of 5"),
             ({"temperature": 0.7}, "temperature", "pinned to 0"),
             ({"top_p": 0.5}, "top_p", "serving policy does not let callers set it"),
             ({"n": 2}, "n", "at most 1"),
             ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "serving.allow.tools")]
    for fields, param, says in cases:
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model=NAME, messages=user, **fields)
        assert info.value.body["param"] == param and says in info.value.message, (fields, info.value.message)
    # a system message the template has no slot for is refused, never dropped
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=NAME, messages=[{"role": "system", "content": "be brief"}, *user])
    assert info.value.body["param"] == "messages[0]" and "no {system} slot" in info.value.message
    assert not upstream.received()  # nothing reached the model
    # the entry's own values, nulls and no-op defaults pass; max_new_tokens reaches the upstream as max_tokens
    ok = client.chat.completions.create(model=NAME, messages=user, temperature=0, n=1, max_tokens=5,
                                        extra_body={"logprobs": None, "tools": None, "response_format": None})
    assert echoed(ok.choices[0].message.content)["max_tokens"] == 5


def test_completions_and_variables_extension(registry, start_gateway, prompts_dir):
    write_prompt(prompts_dir, version="v2", template="[{tier}] ticket : {text} label :")
    spec = make_spec(prompt=False, prompt_ref="triage-prompt@v2")
    release(registry, spec)
    gw = start_gateway()
    response = gw.client().completions.create(model=NAME, prompt="parcel never arrived",
                                              extra_body={"llmreg": {"variables": {"tier": "gold"}}})
    sent = echoed(response.choices[0].text)
    assert sent["prompt"] == "[gold] ticket : parcel never arrived label :"
    assert response.llmreg["stage"] == "production"


def test_env_by_suffix_and_header(registry, start_gateway):
    eu = release(registry, make_spec(), env="eu")
    gw = start_gateway()
    client = gw.client()
    by_suffix = client.chat.completions.create(model=f"{NAME}@production:eu", messages=[{"role": "user", "content": "x"}])
    by_header = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}],
                                               extra_headers={"X-LLMReg-Env": "eu"})
    assert by_suffix.llmreg["env"] == by_header.llmreg["env"] == "eu"
    assert by_suffix.llmreg["version"] == eu.version
    with pytest.raises(openai.NotFoundError) as info:  # nothing in production in "default"
        client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}])
    assert "nothing holds production in env 'default'" in info.value.message


def test_pinned_version_and_staging_addresses(registry, start_gateway):
    first = release(registry, make_spec())
    second = release(registry, make_spec(params={"max_tokens": 7}), to="staging")
    gw = start_gateway()
    client = gw.client()
    pinned = client.chat.completions.create(model=f"{NAME}@{first.version}", messages=[{"role": "user", "content": "x"}])
    staging = client.chat.completions.create(model=f"{NAME}@staging", messages=[{"role": "user", "content": "x"}])
    assert (pinned.llmreg["version"], pinned.llmreg["variant"]) == (first.version, "pinned")
    assert (staging.llmreg["version"], staging.llmreg["variant"]) == (second.version, "staging")
    assert echoed(staging.choices[0].message.content)["max_tokens"] == 7


def test_models_lists_and_retrieves_resolved_versions(registry, start_gateway):
    entry = release(registry, make_spec())
    gw = start_gateway()
    client = gw.client()
    ids = {m.id for m in client.models.list().data}
    assert f"{NAME}@production:default" in ids
    model = client.models.retrieve(f"{NAME}@production")
    assert model.llmreg["version"] == entry.version and model.llmreg["model"] == "gpt-5-mini-2026-01-01"


def test_stream_true_returns_an_event_stream(registry, start_gateway):
    entry = release(registry, make_spec())
    gw = start_gateway()
    chunks = list(gw.client().chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}],
                                                      stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert echoed(text)["model"] == "gpt-5-mini-2026-01-01"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[0].llmreg["version"] == entry.version


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        (b"{not json", 400, None, "invalid_json"),
        (json.dumps({"model": NAME}).encode(), 400, "messages", "missing_required_parameter"),
        (json.dumps({"model": NAME, "messages": [{"role": "user", "content": "x"}], "temperature": 9}).encode(),
         400, "temperature", "invalid_value"),
        (json.dumps({"model": "no-such-entry", "messages": [{"role": "user", "content": "x"}]}).encode(),
         404, "model", "model_not_found"),
        (json.dumps({"model": f"{NAME}@latest", "messages": [{"role": "user", "content": "x"}]}).encode(),
         400, "model", "invalid_model"),
        (json.dumps({"model": NAME, "messages": [{"role": "user", "content": "x"}], "tools": "all"}).encode(),
         400, "tools", "invalid_value"),
        (json.dumps({"model": NAME, "messages": [{"role": "user", "content": "x"}], "audio": {}}).encode(),
         400, "audio", "unsupported_parameter"),
    ],
)
def test_malformed_requests_get_openai_error_bodies(registry, start_gateway, body, status, param, code):
    release(registry, make_spec())
    gw = start_gateway()
    response = httpx.post(gw.base_url + "/v1/chat/completions", content=body,
                          headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["param"], error["code"]) == (param, code)
    assert error["type"] == "invalid_request_error"
    gw.flush()
    logged = read_rows(gw.engine)
    assert [r["status"] for r in logged] == [status]  # refused calls are logged too


def test_shutdown_writes_every_logged_call(registry, start_gateway):
    from llmreg.serving.config import CallLogConfig

    release(registry, make_spec())
    gw = start_gateway(call_log=CallLogConfig(flush_interval_s=30.0, batch_size=10_000))  # only shutdown flushes
    client = gw.client()
    ids = {client.chat.completions.with_raw_response.create(model=NAME, messages=[{"role": "user", "content": "x"}])
           .headers["x-request-id"] for _ in range(25)}
    gw.server.stop()
    assert {r["request_id"] for r in read_rows(gw.engine)} == ids


def test_unknown_paths_and_methods_answer_in_openai_shape(start_gateway):
    gw = start_gateway()
    missing = httpx.get(gw.base_url + "/v1/nothing-here")
    wrong = httpx.get(gw.base_url + "/v1/chat/completions")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_url"
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_openai_client_raises_typed_errors(registry, start_gateway):
    release(registry, make_spec())
    client = start_gateway().client()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}], n=3)
    assert info.value.body["param"] == "n"


def test_upstream_failure_is_a_502_that_still_names_the_version(registry, start_gateway, upstream):
    entry = release(registry, make_spec())
    upstream.fail_models.add("gpt-5-mini-2026-01-01")
    gw = start_gateway()
    response = httpx.post(gw.base_url + "/v1/chat/completions",
                          json={"model": NAME, "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert response.headers["x-llmreg-version"] == f"{NAME}@{entry.version}"
    gw.flush()
    logged = read_rows(gw.engine)[0]
    assert (logged["version"], logged["status"]) == (entry.version, 502)
    assert "injected failure" in logged["error"]


def test_edited_prompt_file_is_refused_not_served(registry, start_gateway, prompts_dir):
    release(registry, make_spec())
    (prompts_dir / "triage-prompt-v1.yaml").write_text(
        "name: triage-prompt\nversion: v1\ntemplate: 'EDITED {text}'\n", encoding="utf-8")
    gw = start_gateway()
    with pytest.raises(openai.InternalServerError) as info:
        gw.client().chat.completions.create(model=NAME, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["code"] == "prompt_mismatch"


def test_a_cookie_an_upstream_sets_never_rides_on_the_next_callers_request(registry, start_gateway, upstream):
    release(registry, make_spec())
    upstream.set_cookie = "session=caller-one-secret; Path=/"
    # By host name: a cookie jar keeps no cookies from a bare IP address, so 127.0.0.1 would hide it.
    by_name = upstream.base_url.replace("127.0.0.1", "localhost")
    client = start_gateway(upstreams={"openai": UpstreamConfig(base_url=by_name, timeout_s=10)}).client()
    for text in ("first caller", "second caller"):
        client.chat.completions.create(model=f"{NAME}@production", messages=[{"role": "user", "content": text}])
    assert len(upstream.cookies) == 2 and upstream.cookies == [None, None]


def test_an_unexpected_failure_answers_500_in_openai_shape_and_is_logged(registry, start_gateway, monkeypatch, caplog):
    release(registry, make_spec())
    gw = start_gateway()

    async def broken(*args, **kwargs):
        raise RuntimeError("injected bug")

    monkeypatch.setattr(gw.gateway, "handle", broken)
    with caplog.at_level("ERROR", logger="llmreg.gateway"):
        response = httpx.post(gw.base_url + "/v1/chat/completions", json={"model": f"{NAME}@production",
                                                                          "messages": []}, timeout=10)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.json()["error"]["code"] == "internal_error"
    assert any("injected bug" in (r.exc_text or "") or "injected bug" in str(r.exc_info) for r in caplog.records)
    assert httpx.get(gw.base_url + "/health", timeout=10).status_code == 200  # the server lives on
