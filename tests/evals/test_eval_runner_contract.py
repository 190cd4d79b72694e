"""One contract every runner honours, run against each real runner that can run here.

vLLM runs only with the `vllm` package and a GPU; on the project's CPU machines its
case is skipped and only the "unavailable" behaviour is tested.
"""
from __future__ import annotations

import pytest

from evals.runners import Completion, Runner, RunnerUnavailable, make_runner
from evals.runners.vllm_runner import vllm_unavailable_reason

PROMPTS = [f"ticket : my order {w} label :" for w in ("late", "broken", "never", "arrived", "twice")]


@pytest.fixture(params=["transformers", "openai", "vllm"])
def any_runner(request, tiny_model) -> Runner:
    base, adapter = tiny_model
    if request.param == "transformers":
        return make_runner("transformers", base_dir=base, adapter_dir=adapter, batch_size=2)
    if request.param == "openai":
        server = request.getfixturevalue("stub_server")
        return make_runner("openai", model="stub-model", base_url=server.base_url, api_key="k", concurrency=3)
    reason = vllm_unavailable_reason()
    if reason:
        pytest.skip(reason)
    return make_runner("vllm", base_dir=base, adapter_dir=adapter, max_lora_rank=8)


def test_one_completion_per_prompt_in_order(any_runner):
    out = any_runner.generate(PROMPTS)
    assert len(out) == len(PROMPTS)
    assert all(isinstance(c, Completion) for c in out)
    for c in out:
        assert isinstance(c.text, str)
        assert c.latency_ms >= 0
        assert isinstance(c.prompt_tokens, int) and c.prompt_tokens > 0
        assert isinstance(c.completion_tokens, int) and c.completion_tokens >= 1
        assert c.error is None and c.ok
    # same prompts, same answers: greedy decoding everywhere
    assert [c.text for c in any_runner.generate(PROMPTS)] == [c.text for c in out]


def test_empty_input_gives_empty_output(any_runner):
    assert any_runner.generate([]) == []


def test_describe_names_the_runner(any_runner):
    described = any_runner.describe()
    assert described["runner"] == any_runner.name
    assert any_runner.name in {"transformers", "openai", "vllm"}


@pytest.mark.skipif(vllm_unavailable_reason() is None, reason="vllm can run here")
def test_vllm_unavailable_is_a_clear_error(tiny_model):
    base, adapter = tiny_model
    reason = vllm_unavailable_reason()
    assert "vllm" in reason and "--runner transformers" in reason
    with pytest.raises(RunnerUnavailable, match="runner transformers"):
        make_runner("vllm", base_dir=base, adapter_dir=adapter)


def test_auto_falls_back_to_transformers_without_vllm(tiny_model):
    base, _ = tiny_model
    runner = make_runner("auto", base_dir=base, batch_size=4)
    expected = "vllm" if vllm_unavailable_reason() is None else "transformers"
    assert runner.name == expected
