"""The OpenAI-compatible runner against a real HTTP server on 127.0.0.1: retries,
timeouts, backoff and per-request error recording over real sockets."""
from __future__ import annotations

import time

import pytest

from evals.runners import RunnerError, make_runner
from evals.runners.openai_runner import OpenAIRunner

PROMPTS = [f"ticket : my card {label} label :" for label in ("billing", "refund", "shipping")]


def runner(server, **cfg) -> OpenAIRunner:
    defaults = dict(base_url=server.base_url, api_key="test-key", backoff_s=0.01, timeout_s=2.0, concurrency=1)
    return OpenAIRunner(cfg.pop("model", "stub-model"), **{**defaults, **cfg})


@pytest.mark.parametrize("mode,path", [("completions", "/v1/completions"), ("chat", "/v1/chat/completions")])
def test_modes_return_text_tokens_and_snapshot(stub_server, mode, path):
    r = runner(stub_server, mode=mode)
    out = r.generate(PROMPTS)
    assert [c.text for c in out] == ["billing", "refund", "shipping"]
    assert all(c.ok and c.prompt_tokens == 7 and c.completion_tokens == 1 for c in out)
    assert {p for p, _ in stub_server.requests} == {path}
    body = stub_server.requests[0][1]
    assert body["model"] == "stub-model" and body["max_tokens"] == 1 and body["temperature"] == 0
    assert r.describe()["snapshots"] == ["stub-model-2025-06-01"]
    assert "test-key" not in str(r.describe())


@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_transient_status_is_retried_then_succeeds(stub_server, fault):
    stub_server.queue_faults(fault, fault)
    r = runner(stub_server, max_retries=3)
    [completion] = r.generate(PROMPTS[:1])
    assert completion.ok and completion.text == "billing"
    assert r.attempts == 3 and stub_server.post_count() == 3


def test_retries_are_bounded_and_the_failure_recorded(stub_server):
    stub_server.always = "500"
    r = runner(stub_server, max_retries=2)
    out = r.generate(PROMPTS)
    assert all(not c.ok for c in out)
    assert out[0].error == "gave up after 3 attempts: HTTP 500: stub fault 500"
    assert stub_server.post_count() == 3 * len(PROMPTS)


def test_backoff_is_exponential_capped_and_honours_retry_after(stub_server):
    sleeps: list[float] = []
    stub_server.always = "500"
    r = runner(stub_server, max_retries=4, backoff_s=0.01, backoff_max_s=0.05, sleep=sleeps.append)
    r.generate(PROMPTS[:1])
    assert sleeps == [0.01, 0.02, 0.04, 0.05]

    stub_server.always = None
    stub_server.retry_after = "0.03"
    stub_server.queue_faults("429")
    sleeps.clear()
    r.generate(PROMPTS[:1])
    assert sleeps == [0.03]  # Retry-After (0.03) beats our first backoff (0.01)


def test_timeout_is_retried(stub_server):
    stub_server.queue_faults(("slow", 1.5))
    r = runner(stub_server, timeout_s=0.3, max_retries=1)
    began = time.perf_counter()
    [completion] = r.generate(PROMPTS[:1])
    assert completion.ok and completion.text == "billing"
    assert 300 <= completion.latency_ms < 1500  # includes the timed-out attempt
    assert time.perf_counter() - began < 1.5


def test_timeout_that_persists_is_recorded(stub_server):
    stub_server.queue_faults(("slow", 1.0), ("slow", 1.0))
    r = runner(stub_server, timeout_s=0.2, max_retries=1)
    [completion] = r.generate(PROMPTS[:1])
    assert completion.error == "gave up after 2 attempts: timed out after 0.2s"


@pytest.mark.parametrize(
    "fault,expected",
    [
        ("malformed", "malformed response: JSONDecodeError"),
        ("text", "malformed response: expected a JSON completion, got text 'upstream says hello'"),
        ("no_choices", "malformed response: no choices in the response body"),
    ],
)
def test_malformed_body_is_recorded_and_the_run_goes_on(stub_server, fault, expected):
    stub_server.queue_faults(fault)
    r = runner(stub_server)
    out = r.generate(PROMPTS)
    assert out[0].error.startswith(expected)
    assert out[0].text == "" and out[0].prompt_tokens == 0
    assert [c.text for c in out[1:]] == ["refund", "shipping"] and all(c.ok for c in out[1:])
    assert r.attempts == 3  # a malformed answer is not retried


def test_unknown_model_is_recorded_without_retry(stub_server):
    r = runner(stub_server, model="gpt-nonexistent", max_retries=3)
    out = r.generate(PROMPTS)
    assert all(c.error.startswith("unknown model 'gpt-nonexistent' at http://127.0.0.1:") for c in out)
    assert r.attempts == len(PROMPTS)


def test_wrong_base_url_is_named(stub_server):
    r = runner(stub_server, base_url=stub_server.base_url.replace("/v1", "/v2"))
    [completion] = r.generate(PROMPTS[:1])
    assert "wrong base_url" in completion.error


def test_connection_refused_is_recorded(stub_server):
    host_port = stub_server.base_url
    stub_server.stop()
    r = OpenAIRunner("stub-model", base_url=host_port, api_key="k", max_retries=1, backoff_s=0.01, timeout_s=1)
    [completion] = r.generate(PROMPTS[:1])
    assert completion.error.startswith("gave up after 2 attempts: connection failed")


def test_concurrency_keeps_order_and_reports_progress(stub_server):
    prompts = [f"ticket : word{i} label :" for i in range(40)]
    stub_server.queue_faults(*(["429"] * 5))
    progress = []
    r = runner(stub_server, concurrency=4, progress=lambda d, t: progress.append(d), progress_every=10)
    out = r.generate(prompts)
    assert [c.text for c in out] == [f"word{i}" for i in range(40)]
    assert all(c.ok for c in out)
    assert progress == [10, 20, 30, 40]


def test_key_and_base_url_from_environment(stub_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", stub_server.base_url)
    monkeypatch.setenv("MY_PROVIDER_KEY", "from-env")
    r = make_runner("openai", model="stub-model", api_key_env="MY_PROVIDER_KEY")
    assert r.base_url == stub_server.base_url
    assert r.generate(PROMPTS[:1])[0].text == "billing"


@pytest.mark.parametrize(
    "cfg,expected",
    [
        ({"api_key": None, "api_key_env": "NO_SUCH_KEY_VAR"}, "no API key: set NO_SUCH_KEY_VAR"),
        ({"mode": "responses"}, "mode must be one of"),
        ({"concurrency": 0}, "concurrency >= 1"),
        ({"timeout": 3}, "unexpected keyword argument 'timeout'"),
    ],
)
def test_config_errors(monkeypatch, cfg, expected):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(RunnerError, match=expected):
        make_runner("openai", **{"model": "m", "api_key": "k", "base_url": "http://127.0.0.1:9/v1", **cfg})


def test_pricing_from_runner_config(stub_server):
    assert runner(stub_server).pricing() is None
    priced = runner(stub_server, prompt_usd_per_1k_tokens=0.5, completion_usd_per_1k_tokens=1.5)
    assert priced.pricing() == {"prompt_usd_per_1k_tokens": 0.5, "completion_usd_per_1k_tokens": 1.5}
