"""The transformers runner on a tiny random Llama: shapes, determinism, token counts,
progress and setup errors (never accuracy: the model is random)."""
from __future__ import annotations

import time

import pytest

from evals.runners import RunnerError, make_runner
from evals.runners.transformers_runner import TransformersRunner
from tiny_model import make_eval_rows


def _prompts(n: int, seed: int = 0) -> list[str]:
    return [f"ticket : {text} label :" for text in make_eval_rows(n, seed=seed)["text"]]


def test_one_completion_per_prompt_with_counts(tuned_runner):
    prompts = _prompts(20)
    out = tuned_runner.generate(prompts)
    assert len(out) == len(prompts)
    for prompt, completion in zip(prompts, out):
        assert completion.error is None
        # WhitespaceSplit tokenizer: one token per word, padding excluded
        assert completion.prompt_tokens == len(prompt.split())
        assert completion.completion_tokens == 1  # max_new_tokens=1
        assert completion.latency_ms > 0
        assert isinstance(completion.text, str)


def test_greedy_is_deterministic_and_independent_of_batching(tiny_model):
    base, adapter = tiny_model
    prompts = _prompts(24, seed=3)
    batched = TransformersRunner(base, adapter, batch_size=8).generate(prompts)
    again = TransformersRunner(base, adapter, batch_size=8).generate(prompts)
    single = TransformersRunner(base, adapter, batch_size=1).generate(prompts)
    assert [c.text for c in batched] == [c.text for c in again]
    # left padding + attention mask: a prompt's answer does not depend on its batch-mates
    assert [c.text for c in batched] == [c.text for c in single]


def test_adapter_changes_outputs_and_is_described(tuned_runner):
    base_runner = tuned_runner.base_variant()
    prompts = _prompts(40, seed=1)
    tuned = [c.text for c in tuned_runner.generate(prompts)]
    base = [c.text for c in base_runner.generate(prompts)]
    assert tuned != base
    described = tuned_runner.describe()
    assert described["adapter_sha256"] and len(described["base_model_sha256"]) == 64
    assert base_runner.describe()["adapter_sha256"] is None
    assert base_runner.describe()["base_model_sha256"] == described["base_model_sha256"]


def test_more_new_tokens(tiny_model):
    base, _ = tiny_model
    out = TransformersRunner(base, max_new_tokens=3, batch_size=4).generate(_prompts(6))
    assert all(1 <= c.completion_tokens <= 3 for c in out)


def test_progress_callback_every_n(tiny_model):
    base, _ = tiny_model
    calls = []
    runner = TransformersRunner(base, batch_size=4, progress=lambda d, t: calls.append((d, t)), progress_every=8)
    runner.generate(_prompts(18))
    assert calls == [(8, 18), (16, 18), (18, 18)]


def test_progress_logs_without_a_callback(tiny_model, caplog):
    base, _ = tiny_model
    runner = TransformersRunner(base, batch_size=5, progress_every=10)
    with caplog.at_level("INFO", logger="evals.runners"):
        runner.generate(_prompts(12))
    lines = [r.getMessage() for r in caplog.records if r.name == "evals.runners"]
    assert [line.split(" (")[0] for line in lines] == ["transformers: 10/12 prompts", "transformers: 12/12 prompts"]


def test_empty_prompt_list(tuned_runner):
    assert tuned_runner.generate([]) == []


@pytest.mark.parametrize(
    "kwargs,expected",
    [
        ({"base_dir": "/nonexistent/base"}, "config.json missing"),
        ({"adapter_dir": "/nonexistent/adapter"}, "adapter_config.json missing"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"num_beams": 4}, "unexpected keyword argument 'num_beams'"),
    ],
)
def test_setup_errors_are_clear(tiny_model, kwargs, expected):
    base, _ = tiny_model
    cfg = {"base_dir": base, **kwargs}
    with pytest.raises(RunnerError, match=expected):
        make_runner("transformers", **cfg)


def test_unknown_runner_kind():
    with pytest.raises(RunnerError, match="unknown runner kind 'tgi'"):
        make_runner("tgi")


def test_throughput_on_500_rows(tuned_runner, record_property):
    prompts = _prompts(500, seed=7)
    began = time.perf_counter()
    out = tuned_runner.generate(prompts)
    elapsed = time.perf_counter() - began
    assert len(out) == 500 and all(c.ok for c in out)
    rate = 500 / elapsed
    record_property("examples_per_s", rate)
    print(f"\ntransformers runner, tiny fixture model, batch 16, CPU: {rate:.0f} examples/s")
    assert rate > 50  # a floor that catches e.g. per-row reloads, not a benchmark


def test_checksums_are_the_registrys(tuned_runner):
    from llmreg.registry.artifacts import hash_tree

    described = tuned_runner.describe()
    assert described["base_model_sha256"] == hash_tree(tuned_runner.base_dir)[0]
    assert described["adapter_sha256"] == hash_tree(tuned_runner.adapter_dir)[0]
