"""/v1/responses with stream: true, driven by the official openai client over loopback: the
Responses API's event sequence (created ... output_text.delta ... completed), deltas that add
up to the non-streamed answer, usage on response.completed, and one call-log row."""
from __future__ import annotations

import asyncio
import json

import httpx
import openai

from llmreg.serving.call_log import read_rows
from serving_fixtures import NAME, make_spec, release

SEQUENCE_HEAD = ["response.created", "response.in_progress", "response.output_item.added",
                 "response.content_part.added"]
SEQUENCE_TAIL = ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                 "response.completed"]


def test_responses_stream_with_the_openai_client(registry, start_gateway):
    entry = release(registry, make_spec(serving={"messages": "chat"}))
    gw = start_gateway()
    client = gw.client()
    whole = client.responses.create(model=NAME, input="parcel never arrived", instructions="be brief")
    events = list(client.responses.create(model=NAME, input="parcel never arrived", instructions="be brief",
                                          stream=True))
    types = [e.type for e in events]
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert types == SEQUENCE_HEAD + ["response.output_text.delta"] * len(deltas) + SEQUENCE_TAIL
    assert len(deltas) > 3  # token by token (the upstream streams word by word), not one blob
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(d.delta for d in deltas)
    assert json.loads(text)["stream"] is True and json.loads(text)["messages"] == json.loads(whole.output_text)[
        "messages"]
    completed = events[-1].response
    assert completed.status == "completed" and completed.output_text == text
    assert completed.model == f"{NAME}@{entry.version}" and completed.usage.output_tokens == 1
    assert completed.usage.total_tokens == completed.usage.input_tokens + 1
    assert events[0].response.status == "in_progress" and events[0].response.id == completed.id
    gw.flush()
    rows = [r for r in read_rows(gw.engine) if r["endpoint"] == "responses"]
    assert len(rows) == 2 and all(r["status"] == 200 for r in rows)
    assert sum(r["ttft_ms"] is not None for r in rows) == 1  # the streamed one


def test_responses_stream_helper_and_async_client(registry, start_gateway):
    release(registry, make_spec())
    gw = start_gateway()
    with gw.client().responses.stream(model=NAME, input="my card was charged twice") as stream:
        seen = list(stream)
        final = stream.get_final_response()  # the SDK accumulates the events itself: it must agree with ours
    streamed = "".join(e.delta for e in seen if e.type == "response.output_text.delta")
    assert seen[-1].type == "response.completed" and final.output_text == streamed
    assert json.loads(streamed)["stream"] is True

    async def run():
        client = openai.AsyncOpenAI(base_url=gw.base_url + "/v1", api_key="unused", max_retries=0)
        try:
            return [e async for e in await client.responses.create(model=NAME, input="x", stream=True)]
        finally:
            await client.close()

    events = asyncio.run(run())
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == \
        events[-1].response.output_text


def test_responses_stream_refused_before_the_first_token_is_plain_http(registry, start_gateway):
    release(registry, make_spec())
    gw = start_gateway()
    response = httpx.post(gw.base_url + "/v1/responses", json={"model": "no-such-entry", "input": "x",
                                                               "stream": True})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
