"""The one interface every backend implements: take a rendered request, return a generation.

Backends know nothing about the registry. The gateway has already resolved the entry,
rendered its prompt and merged its params; a backend only talks to a model (an
OpenAI-compatible server, a local transformers model, vLLM in-process).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    kind: str  # "chat" | "completion"
    model: str  # the name the backend knows the model by (provider snapshot, served name, ...)
    prompt: str  # completion: the rendered prompt; chat: the rendered last user turn
    messages: tuple[Mapping[str, Any], ...] = ()  # chat: full conversation with the rendered turn
    params: Mapping[str, Any] = field(default_factory=dict)
    templated: bool = False  # True when `prompt` came from the entry's template


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Backend(Protocol):
    kind: str  # "upstream" | "transformers" | "vllm"

    async def generate(self, request: GenerationRequest) -> Generation:
        """Produce one completion; failures raise serving.api_errors.ApiError."""

    async def aclose(self) -> None:
        """Release connections, threads or model memory."""


def apply_stop(text: str, stops: Any) -> tuple[str, bool]:
    """Cut `text` at the first stop string (OpenAI semantics: the stop string is not returned)."""
    if not stops:
        return text, False
    if isinstance(stops, str):
        stops = [stops]
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
