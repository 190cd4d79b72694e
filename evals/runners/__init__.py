"""Runners behind one interface; `make_runner(kind, **cfg)` builds one by name.

Imports are lazy so choosing the OpenAI runner never imports torch, and choosing
transformers never imports vllm.
"""
from __future__ import annotations

import inspect
from typing import Any

from evals.runners.base import (
    Completion,
    Progress,
    ProgressCallback,
    Runner,
    RunnerError,
    RunnerUnavailable,
)

RUNNER_KINDS = ("transformers", "vllm", "openai", "auto")

__all__ = [
    "Completion",
    "Progress",
    "ProgressCallback",
    "Runner",
    "RunnerError",
    "RunnerUnavailable",
    "RUNNER_KINDS",
    "make_runner",
]


def make_runner(kind: str, **cfg: Any) -> Runner:
    """Build a runner. `auto` picks vllm where it can run (GPU + vllm), else transformers."""
    if kind == "auto":
        from evals.runners.vllm_runner import vllm_unavailable_reason

        kind = "vllm" if vllm_unavailable_reason() is None else "transformers"
    if kind == "transformers":
        from evals.runners.transformers_runner import TransformersRunner as cls
    elif kind == "vllm":
        from evals.runners.vllm_runner import VLLMRunner as cls
    elif kind == "openai":
        from evals.runners.openai_runner import OpenAIRunner as cls
    else:
        raise RunnerError(f"unknown runner kind {kind!r}: use one of {', '.join(RUNNER_KINDS)}")
    try:  # bind first, so a config typo is reported as such, not as a crash inside
        inspect.signature(cls).bind(**cfg)
    except TypeError as exc:
        raise RunnerError(f"{kind} runner config: {exc}: fix the runner settings") from None
    return cls(**cfg)
