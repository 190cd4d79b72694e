"""The one interface every backend implements: take a rendered request, return (or stream)
OpenAI-shaped choices.

Backends know nothing about the registry. The gateway has already resolved the entry and
built the request with `llmreg.registry.generation` (rendered input, canonical params,
tool schemas), the same mapping the eval runners use; a backend only talks to a model (an
OpenAI-compatible server, a local transformers model, vLLM in-process) and refuses what
it cannot honour rather than ignoring it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping, Protocol

from llmreg.registry.generation import RenderedInput, apply_stop  # noqa: F401 - re-exported for backends


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    kind: str  # "chat" | "completion"
    model: str  # the name the backend knows the model by (provider snapshot, served name, ...)
    input: RenderedInput
    params: Mapping[str, Any] = field(default_factory=dict)  # canonical (OpenAI) names
    tools: tuple[Mapping[str, Any], ...] = ()
    request_id: str = ""

    @property
    def prompt(self) -> str:
        return self.input.prompt

    @property
    def messages(self) -> tuple[Mapping[str, Any], ...]:
        return self.input.messages or ({"role": "user", "content": self.input.prompt},)


@dataclass(frozen=True, slots=True)
class Generation:
    """OpenAI `choices` as the backend produced them (message or text, finish_reason,
    logprobs, tool_calls), plus token usage."""

    choices: tuple[Mapping[str, Any], ...]
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    system_fingerprint: str | None = None

    @property
    def text(self) -> str:
        first = self.choices[0] if self.choices else {}
        if "message" in first:
            return first["message"].get("content") or ""
        return first.get("text") or ""


@dataclass(frozen=True, slots=True)
class StreamPart:
    """One streamed chunk: OpenAI chunk `choices` (delta or text), and usage on the last."""

    choices: tuple[Mapping[str, Any], ...] = ()
    usage: Mapping[str, int] | None = None


class Backend(Protocol):
    kind: str  # "upstream" | "transformers" | "vllm"
    max_context: int | None  # prompt + completion positions the model has, when known

    async def generate(self, request: GenerationRequest) -> Generation:
        """Produce the completion(s); failures raise serving.api_errors.ApiError."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[StreamPart]:
        """Produce the completion as it is generated; closing the iterator cancels generation."""

    async def aclose(self) -> None:
        """Release connections, threads or model memory."""


def text_choice(kind: str, index: int, text: str, finish_reason: str, logprobs: Any = None) -> dict[str, Any]:
    if kind == "chat":
        return {"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason,
                "logprobs": logprobs}
    return {"index": index, "text": text, "finish_reason": finish_reason, "logprobs": logprobs}


def delta_choice(kind: str, index: int, text: str | None, finish_reason: str | None = None,
                 first: bool = False) -> dict[str, Any]:
    if kind == "chat":
        delta: dict[str, Any] = {"role": "assistant"} if first else {}
        if text:
            delta["content"] = text
        elif first:
            delta["content"] = ""
        return {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
    return {"index": index, "text": text or "", "finish_reason": finish_reason, "logprobs": None}


def held_back(text: str, stops: Any) -> int:
    """How many trailing characters of a streamed `text` could still start a stop string
    (they are held until the next token shows whether the stop string follows)."""
    if not stops:
        return 0
    keep = 0
    for stop in ([stops] if isinstance(stops, str) else stops):
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                keep = max(keep, n)
                break
    return keep
