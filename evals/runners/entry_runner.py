"""A runner for a registry entry: the release tuple decides model, adapter, params, prompt
rendering and tools, through the mapping the gateway serves with
(`llmreg.registry.generation`). Re-evaluating a registered version (a new provider
snapshot, a scheduled re-check) therefore measures exactly what the gateway serves.

    runner = runner_for_entry(entry.spec)                      # local files: transformers/vllm
    runner = runner_for_entry(entry.spec, base_url=URL)        # hosted/vLLM server: OpenAI runner
    prompts = [render_for_entry(entry.spec, template, text) for text in texts]
    completions = runner.generate(prompts)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.runners.base import Runner, RunnerError

LOCAL_PROVIDERS = ("local", "hf", "huggingface")


def _verified(location: str, expected: str | None, what: str) -> str:
    """The path, after its bytes hash to what the entry registered (as the gateway checks)."""
    if expected:
        from llmreg.registry.artifacts import hash_location

        actual = hash_location(location)[0]
        if actual != expected:
            raise RunnerError(f"{what}: expected sha256 {expected}, got {actual} ({location}); refusing to "
                              "evaluate files that differ from the registered ones")
    return location


def runner_for_entry(spec: Any, *, kind: str = "auto", base_url: str | None = None, api_key: str | None = None,
                     tools_dir: str | Path = "tools", **runner_kwargs: Any) -> Runner:
    """The runner that generates what the gateway serves for `spec` (an EntrySpec) by default."""
    from evals.runners import make_runner
    from llmreg.registry.generation import load_tools, served_params

    params = served_params(spec)
    model = spec.model
    if base_url is not None or model.provider not in LOCAL_PROVIDERS:
        tools = load_tools(spec.tools_ref, tools_dir) if spec.tools_ref else ()
        return make_runner("openai", model=model.request_id, base_url=base_url, api_key=api_key or "EMPTY",
                           params=params, tools=[dict(t) for t in tools], **runner_kwargs)
    if not model.uri:
        raise RunnerError(f"{spec.name}: model {model.id!r} has no uri; a local runner needs the model directory")
    adapters = [a for a in spec.artifacts if a.kind == "adapter"]
    if len(adapters) > 1:
        raise RunnerError(f"{spec.name}: {len(adapters)} adapter artifacts; a local runner applies exactly one")
    base = _verified(model.uri, model.sha256, f"model of {spec.name}")
    adapter = _verified(adapters[0].uri, adapters[0].sha256, f"artifact '{adapters[0].name}'") if adapters else None
    if spec.tools_ref:
        raise RunnerError(f"{spec.name}: tools_ref {spec.tools_ref} cannot be honoured by a local runner "
                          "(the gateway refuses it too); evaluate through an OpenAI-compatible server")
    return make_runner(kind, base_dir=base, adapter_dir=adapter, params=params, **runner_kwargs)


def render_for_entry(spec: Any, template: Any, text: str, variables: dict[str, str] | None = None) -> str:
    """The prompt the gateway renders for a completion (or single user turn) `text`."""
    from llmreg.registry.generation import parse_policy, render_input

    policy = parse_policy(getattr(spec, "serving", None), spec.params)
    return render_input(template, policy.messages, prompt=text, variables=variables).prompt
