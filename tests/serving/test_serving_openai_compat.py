"""What real OpenAI clients rely on, over real HTTP with the official openai client (sync
and async) against the gateway in front of an OpenAI-compatible upstream: streaming with
usage, pass-through of n/tools/logprobs/response_format with tool_calls and logprobs back
intact, /v1/responses, /health, /version, /metrics, X-Request-ID, `created`, and the
upstream's 4xx passed through as the caller's error."""
from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from llmreg.serving.call_log import read_rows
from serving_fixtures import NAME, make_spec, release

USER = [{"role": "user", "content": "my card was charged twice"}]
TOOLS_FILE = """name: triage-tools
version: v3
tools:
  - type: function
    function:
      name: lookup_policy
      description: Fetch the current policy text for a topic.
      parameters: {type: object, properties: {topic: {type: string}}, required: [topic]}
"""


def test_streaming_sync_with_usage_and_ttft_logged(registry, start_gateway):
    entry = release(registry, make_spec())
    gw = start_gateway()
    stream = gw.client().chat.completions.create(model=NAME, messages=USER, stream=True,
                                                 stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text)["stream"] is True  # the upstream streamed it word by word
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 1  # the final usage chunk
    assert {c.llmreg["version"] for c in chunks} == {entry.version}
    gw.flush()
    row = read_rows(gw.engine)[0]
    assert row["status"] == 200 and row["ttft_ms"] is not None and 0 < row["ttft_ms"] <= row["latency_ms"]
    assert row["completion_tokens"] == 1


def test_streaming_async_client(registry, start_gateway):
    release(registry, make_spec())
    gw = start_gateway()

    async def run():
        client = openai.AsyncOpenAI(base_url=gw.base_url + "/v1", api_key="unused", max_retries=0)
        try:
            whole = await client.chat.completions.create(model=NAME, messages=USER)
            parts = [c async for c in await client.completions.create(model=NAME, prompt="x", stream=True)]
            return whole, parts
        finally:
            await client.close()

    whole, parts = asyncio.run(run())
    assert json.loads(whole.choices[0].message.content)["model"] == "gpt-5-mini-2026-01-01"
    assert json.loads("".join(p.choices[0].text for p in parts if p.choices))["prompt"] == "ticket : x label :"


def test_tools_from_tools_ref_n_logprobs_and_response_format_pass_through(registry, start_gateway, upstream,
                                                                         tmp_path):
    tools_dir = tmp_path / "tools"
    tools_dir.mkdir()
    (tools_dir / "triage-tools-v3.yaml").write_text(TOOLS_FILE, encoding="utf-8")
    release(registry, make_spec(tools_ref="triage-tools@v3",
                                serving={"max_n": 2, "messages": "chat",
                                         "allow": {"response_format": True, "tool_choice": True}}))
    client = start_gateway(tools_dir=str(tools_dir)).client()
    reply = client.chat.completions.create(model=NAME, messages=USER, n=2, logprobs=True, top_logprobs=2, seed=7,
                                           tool_choice="auto", response_format={"type": "json_object"})
    sent = upstream.received()[-1]
    assert sent["tools"][0]["function"]["name"] == "lookup_policy"  # the entry's tools_ref, not the caller's
    assert (sent["n"], sent["logprobs"], sent["top_logprobs"], sent["seed"], sent["tool_choice"]) == \
        (2, True, 2, 7, "auto")
    assert sent["response_format"] == {"type": "json_object"}
    assert len(reply.choices) == 2
    call = reply.choices[0].message.tool_calls[0]  # tool_calls come back intact
    assert call.function.name == "lookup_policy" and reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].logprobs.content[0].logprob == -0.5  # and so do logprobs
    # a tool round trip: the assistant's tool call and the tool's answer go back to the upstream
    follow = [*USER, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
              {"role": "tool", "tool_call_id": call.id, "content": "refunds take 5 days"},
              {"role": "user", "content": "and then?"}]
    client.chat.completions.create(model=NAME, messages=follow)
    assert upstream.received()[-1]["messages"][2] == {"role": "tool", "tool_call_id": call.id,
                                                      "content": "refunds take 5 days"}
    # a caller's own tools are refused: the entry pins them
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=NAME, messages=USER, tools=[
            {"type": "function", "function": {"name": "rm_rf", "parameters": {"type": "object"}}}])
    assert info.value.body["param"] == "tools" and "lookup_policy" in info.value.message


def test_upstream_4xx_is_the_callers_error_and_never_counts(registry, start_gateway, upstream):
    from llmreg.serving.call_metrics import is_error

    release(registry, make_spec())
    upstream.reject_models.add("gpt-5-mini-2026-01-01")
    gw = start_gateway()
    with pytest.raises(openai.BadRequestError) as info:
        gw.client().chat.completions.create(model=NAME, messages=USER)
    assert info.value.body["code"] == "context_length_exceeded" and info.value.body["param"] == "messages"
    gw.flush()
    row = read_rows(gw.engine)[0]
    assert row["status"] == 400 and not is_error(row["status"])


def test_responses_health_version_metrics_request_id_and_created(registry, start_gateway):
    entry = release(registry, make_spec(serving={"messages": "chat"}))
    gw = start_gateway()
    client = gw.client()
    response = client.responses.create(model=NAME, input="parcel never arrived", instructions="be brief")
    sent = json.loads(response.output_text)
    assert sent["messages"] == [{"role": "system", "content": "be brief"},
                                {"role": "user", "content": "ticket : parcel never arrived label :"}]
    assert response.model == f"{NAME}@{entry.version}"

    raw = client.chat.completions.with_raw_response.create(model=NAME, messages=USER,
                                                           extra_headers={"X-Request-ID": "trace-42"})
    assert raw.headers["x-request-id"] == "trace-42" and raw.parse().id == "chatcmpl-trace-42"

    models = client.models.list().data
    assert all(m.created > 1_600_000_000 for m in models)
    assert client.models.retrieve(f"{NAME}@production").created > 1_600_000_000

    health = httpx.get(gw.base_url + "/health").json()
    assert health["status"] == "ok" and health["auth"] == "open"
    version = httpx.get(gw.base_url + "/version").json()
    assert version["llmreg"]
    metrics = httpx.get(gw.base_url + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    line = next(line for line in metrics.text.splitlines() if line.startswith("llmreg_gateway_requests_total{"))
    assert f'entry="{NAME}"' in line and f'version="{entry.version}"' in line and 'status="200"' in line
    assert "llmreg_gateway_request_seconds_bucket" in metrics.text


def test_cors_is_off_by_default_and_configurable(registry, start_gateway):
    from llmreg.serving.config import CorsConfig

    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    closed = start_gateway()
    response = httpx.options(closed.base_url + "/v1/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    opened = start_gateway(cors=CorsConfig(allow_origins=("https://app.example.com",)))
    response = httpx.options(opened.base_url + "/v1/chat/completions", headers=preflight)
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    for base, allowed in ((closed.base_url, False), (opened.base_url, True)):  # the POST itself, answer or error
        response = httpx.post(base + "/v1/chat/completions", headers={"origin": "https://app.example.com"},
                              json={"model": "no-such-entry", "messages": USER})
        assert response.status_code == 404
        assert ("access-control-allow-origin" in response.headers) is allowed


def test_upstream_outage_is_retried_with_the_shared_policy(registry, start_gateway, upstream):
    release(registry, make_spec())
    gw = start_gateway()
    upstream.fail_next["gpt-5-mini-2026-01-01"] = 1  # one 503, then fine: the retry hides it
    assert gw.client().chat.completions.create(model=NAME, messages=USER).choices[0].message.content
    upstream.fail_models.add("gpt-5-mini-2026-01-01")
    before = len(upstream.received())
    with pytest.raises(openai.InternalServerError):
        gw.client().chat.completions.create(model=NAME, messages=USER)
    assert len(upstream.received()) - before == 2  # max_retries 1: two attempts, then a 502


def test_embeddings_for_embedder_entries_only(registry, start_gateway, upstream):
    release(registry, make_spec(name="kb-embedder", model="text-embedding-3-small-2026-01-01", prompt=False,
                                params={}))
    release(registry, make_spec())
    client = start_gateway().client()
    result = client.embeddings.create(model="kb-embedder@production", input=["refund policy", "shipping"])
    assert [d.embedding for d in result.data] == [[13.0, 1.0, 0.5], [8.0, 1.0, 0.5]]
    sent = upstream.received()[-1]
    assert (sent["model"], sent["input"]) == ("text-embedding-3-small-2026-01-01", ["refund policy", "shipping"])
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=NAME, input="x")
    assert info.value.body["code"] == "model_not_embedder"


def test_an_upstream_may_want_max_completion_tokens(registry, start_gateway, upstream):
    from llmreg.serving.config import UpstreamConfig

    release(registry, make_spec(params={"max_completion_tokens": 5}))
    gw = start_gateway(upstreams={"openai": UpstreamConfig(base_url=upstream.base_url,
                                                           max_tokens_field="max_completion_tokens")})
    sent = json.loads(gw.client().chat.completions.create(model=NAME, messages=USER).choices[0].message.content)
    assert sent["max_completion_tokens"] == 5 and "max_tokens" not in sent
