"""Served = registered = evaluated: for the demo entry's shape (local base model + LoRA
adapter, the demo prompt, the demo params `max_new_tokens: 1, temperature: 0.0` that
training/release.py registers), the gateway's answer equals the eval runner's answer for
the same input. Both build their request with llmreg.registry.generation."""
from __future__ import annotations

from pathlib import Path

import pytest

from llmreg.registry.artifacts import hash_tree
from llmreg.registry.prompts import PromptTemplate
from serving_fixtures import NAME, PROMPT_TEMPLATE, make_spec, release

pytest.importorskip("peft")

TEXTS = ["my card was charged twice", "parcel never arrived", "login fails", "my account was charged",
         "technical login never arrived twice"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    from serving_tiny_llama import build

    return build(tmp_path_factory.mktemp("tiny-llama"))


def demo_spec(base: Path, adapter: Path, params: dict) -> dict:
    adapter_sha, adapter_size = hash_tree(adapter)
    return make_spec(
        model={"provider": "local", "id": "tiny-llama", "uri": str(base), "sha256": hash_tree(base)[0]},
        artifacts=[{"name": "adapter", "uri": str(adapter), "sha256": adapter_sha, "size": adapter_size,
                    "kind": "adapter"}],
        params=params)


@pytest.mark.parametrize("params", [{"max_new_tokens": 1, "temperature": 0.0},  # the demo entry's params
                                    {"max_new_tokens": 4, "temperature": 0.0}])
def test_gateway_answer_equals_eval_runner_answer(registry, start_gateway, tiny_model, params):
    from evals.runners.entry_runner import render_for_entry, runner_for_entry

    base, adapter = tiny_model
    entry = release(registry, demo_spec(base, adapter, params))
    client = start_gateway().client()
    served_chat = [client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": t}])
                   for t in TEXTS]
    served_completion = [client.completions.create(model=NAME, prompt=t) for t in TEXTS]

    template = PromptTemplate("triage-prompt", "v1", PROMPT_TEMPLATE)
    prompts = [render_for_entry(entry.spec, template, t) for t in TEXTS]
    assert prompts[0] == "ticket : my card was charged twice label :"
    for batch_size in (1, 8):  # batched (left-padded) evaluation must not change the answer either
        evaluated = runner_for_entry(entry.spec, kind="transformers", batch_size=batch_size).generate(prompts)
        assert [c.text for c in evaluated] == [r.choices[0].message.content for r in served_chat]
        assert [c.text for c in evaluated] == [r.choices[0].text for r in served_completion]
    # the pin is honoured: exactly max_new_tokens tokens (the tiny model never emits EOS this early)
    assert {r.usage.completion_tokens for r in served_chat} == {params["max_new_tokens"]}
