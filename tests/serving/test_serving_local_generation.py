"""The local transformers backend through the gateway: real token streaming, sampling with a
seed, n, refusals of what it cannot honour, the context-length check, cancellation when the
client hangs up (499, generation stopped), and the bounded queue (503 + Retry-After)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from llmreg.registry.artifacts import hash_tree
from llmreg.serving.call_log import read_rows
from llmreg.serving.config import BackendLimit, LimitsConfig
from serving_fixtures import NAME, make_spec, release, wait_until

pytest.importorskip("peft")
USER = [{"role": "user", "content": "my card was charged twice"}]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    from serving_tiny_llama import build

    # 4096 positions: long generations (seconds on a CPU) for the cancellation and queue tests
    return build(tmp_path_factory.mktemp("tiny-llama-long"), max_positions=4096)


def local_spec(base: Path, adapter: Path, params: dict, serving: dict | None = None) -> dict:
    adapter_sha, adapter_size = hash_tree(adapter)
    extra = {"serving": serving} if serving else {}
    return make_spec(
        model={"provider": "local", "id": "tiny-llama", "uri": str(base), "sha256": hash_tree(base)[0]},
        artifacts=[{"name": "adapter", "uri": str(adapter), "sha256": adapter_sha, "size": adapter_size,
                    "kind": "adapter"}],
        params=params, **extra)


def test_streams_tokens_as_generated_with_usage(registry, start_gateway, tiny_model):
    release(registry, local_spec(*tiny_model, {"max_new_tokens": 6, "temperature": 0.0}))
    client = start_gateway().client()
    whole = client.chat.completions.create(model=NAME, messages=USER).choices[0].message.content
    chunks = list(client.chat.completions.create(model=NAME, messages=USER, stream=True,
                                                 stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3  # token by token, not the whole answer in one chunk
    assert "".join(pieces).strip() == whole.strip()
    assert chunks[-1].usage.completion_tokens == 6 and chunks[-2].choices[0].finish_reason == "length"


def test_sampling_seed_and_n(registry, start_gateway, tiny_model):
    release(registry, local_spec(*tiny_model, {"max_new_tokens": 8, "temperature": 1.0},
                                 serving={"max_n": 4}))
    client = start_gateway().client()
    one = client.chat.completions.create(model=NAME, messages=USER, seed=3).choices[0].message.content
    again = client.chat.completions.create(model=NAME, messages=USER, seed=3).choices[0].message.content
    assert one == again  # the seed makes sampling reproducible
    several = client.chat.completions.create(model=NAME, messages=USER, seed=3, n=4)
    assert [c.index for c in several.choices] == [0, 1, 2, 3]
    assert len({c.message.content for c in several.choices}) > 1  # temperature 1: the samples differ


def test_refuses_what_it_cannot_honour_and_over_long_prompts(registry, start_gateway, tmp_path):
    from serving_tiny_llama import build

    base, adapter = build(tmp_path / "short")  # 64 positions, like the model
    release(registry, local_spec(base, adapter, {"max_new_tokens": 4, "temperature": 0.0}))
    client = start_gateway().client()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=NAME, messages=USER, logprobs=True)  # allowed by policy, not here
    assert info.value.body["param"] == "logprobs" and info.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": "login fails " * 40}])
    assert info.value.body["code"] == "context_length_exceeded"
    assert "maximum context length is 64 tokens" in info.value.message


def test_client_hang_up_cancels_generation_and_logs_499(registry, start_gateway, tiny_model):
    release(registry, local_spec(*tiny_model, {"max_new_tokens": 4000, "temperature": 0.0}))
    gw = start_gateway()
    client = gw.client()
    started = time.perf_counter()
    full = client.completions.create(model=NAME, prompt="login fails")
    full_s = time.perf_counter() - started
    assert full.usage.completion_tokens == 4000 and full_s > 1.0, full_s  # long enough to hang up on

    started = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).completions.create(model=NAME, prompt="login fails")
    # the model is free again long before a full generation would have ended: it was stopped
    quick = client.completions.create(model=NAME, prompt="login fails", max_tokens=2)
    assert quick.usage.completion_tokens == 2
    assert time.perf_counter() - started < 0.3 + full_s * 0.6
    gw.flush()
    statuses = [r["status"] for r in read_rows(gw.engine)]
    assert wait_until(lambda: (gw.flush(), 499 in [r["status"] for r in read_rows(gw.engine)])[1]), statuses


def test_full_queue_answers_503_with_retry_after(registry, start_gateway, tiny_model):
    release(registry, local_spec(*tiny_model, {"max_new_tokens": 3000, "temperature": 0.0}))
    gw = start_gateway(limits=LimitsConfig(local=BackendLimit(max_concurrent=1, max_queued=0), retry_after_s=2))
    client = gw.client()
    client.completions.create(model=NAME, prompt="x", max_tokens=1)  # load the model first
    long = threading.Thread(target=lambda: client.completions.create(model=NAME, prompt="login fails"))
    long.start()
    wait_until(lambda: httpx.get(gw.base_url + "/health").json()["backends"][0]["active"] == 1)
    refused = httpx.post(gw.base_url + "/v1/completions", json={"model": NAME, "prompt": "x", "max_tokens": 1})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
    assert refused.json()["error"]["code"] == "server_overloaded"
    long.join(timeout=60)


def test_concurrent_greedy_requests_are_batched_with_unchanged_answers(registry, start_gateway, tiny_model):
    import concurrent.futures

    release(registry, local_spec(*tiny_model, {"max_new_tokens": 40, "temperature": 0.0}, serving={"max_tokens": 40}))
    gw = start_gateway()
    client = gw.client()
    texts = ["my card was charged twice", "parcel never arrived", "login fails", "my account", "technical",
             "card was charged", "never arrived twice", "login"]
    alone = [client.completions.create(model=NAME, prompt=t, max_tokens=10 + i).choices[0].text
             for i, t in enumerate(texts)]
    backend = next(iter(gw.gateway.backends._local.values()))
    before = backend.batches
    with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
        together = list(pool.map(lambda it: client.completions.create(model=NAME, prompt=it[1], max_tokens=10 + it[0])
                                 .choices[0].text, enumerate(texts)))
    assert together == alone  # batched, left-padded: the same greedy answers, each cut at its own max_tokens
    assert backend.batches - before < len(texts)  # fewer generate calls than requests


def test_a_stream_the_client_abandons_stops_generation_and_logs_499(registry, start_gateway, tiny_model):
    release(registry, local_spec(*tiny_model, {"max_new_tokens": 4000, "temperature": 0.0}))
    gw = start_gateway()
    started = time.perf_counter()
    gw.client().completions.create(model=NAME, prompt="login fails")
    full_s = time.perf_counter() - started
    with httpx.stream("POST", gw.base_url + "/v1/completions", timeout=30,
                      json={"model": NAME, "prompt": "login fails", "stream": True}) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))  # the first token arrived
    started = time.perf_counter()  # hung up after the first token
    quick = gw.client().completions.create(model=NAME, prompt="login fails", max_tokens=2)
    # the model was free long before the abandoned generation would have ended: it was stopped
    assert quick.usage.completion_tokens == 2 and time.perf_counter() - started < full_s * 0.6
    assert wait_until(lambda: (gw.flush(), 499 in [r["status"] for r in read_rows(gw.engine)])[1])
