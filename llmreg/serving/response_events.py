"""/v1/responses answers: the completed `response` object, and its streamed event sequence.

A streamed Responses API answer is a sequence of typed SSE events (`event: TYPE` plus a
JSON `data` with the same `type` and a `sequence_number`), as OpenAI sends them for one
text message:

    response.created, response.in_progress,
    response.output_item.added, response.content_part.added,
    response.output_text.delta ... (one per streamed chunk),
    response.output_text.done, response.content_part.done, response.output_item.done,
    response.completed (the whole response, usage included)

A failure after the first token ends the stream with `response.failed` (the error in
`response.error`); there is no `[DONE]` line in this API.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from llmreg.serving import json_bytes


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _message(message_id: str, status: str, text: str | None) -> dict[str, Any]:
    return {"type": "message", "id": message_id, "status": status, "role": "assistant",
            "content": [] if text is None else [_text_part(text)]}


def _usage(usage: Mapping[str, int]) -> dict[str, Any]:
    return {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"], "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0}}


def completed_response(head: Mapping[str, Any], text: str, usage: Mapping[str, int]) -> dict[str, Any]:
    """The non-streamed answer, and the `response` of `response.completed`."""
    message_id = "msg_" + str(head["id"]).removeprefix("resp_")
    return {**head, "status": "completed", "output": [_message(message_id, "completed", text)],
            "output_text": text, "usage": _usage(usage)}


class ResponseEvents:
    """Builds the event sequence of one streamed answer (text of choice 0)."""

    def __init__(self, head: Mapping[str, Any]):
        self.head = dict(head)
        self.message_id = "msg_" + str(head["id"]).removeprefix("resp_")
        self.text: list[str] = []
        self.seq = 0

    def _event(self, type_: str, **fields: Any) -> str:
        data = {"type": type_, "sequence_number": self.seq, **fields}
        self.seq += 1
        return f"event: {type_}\ndata: {json_bytes.dumps(data).decode('utf-8')}\n\n"

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.message_id, "output_index": 0, "content_index": 0}

    def start(self) -> Iterator[str]:
        pending = {**self.head, "status": "in_progress", "output": [], "usage": None}
        yield self._event("response.created", response=pending)
        yield self._event("response.in_progress", response=pending)
        yield self._event("response.output_item.added", output_index=0,
                          item=_message(self.message_id, "in_progress", None))
        yield self._event("response.content_part.added", part=_text_part(""), **self._where())

    def delta(self, choices: Sequence[Mapping[str, Any]]) -> Iterator[str]:
        for choice in choices:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            text = (delta.get("content") if isinstance(delta, Mapping) else None) or choice.get("text") or ""
            if text:
                self.text.append(text)
                yield self._event("response.output_text.delta", delta=text, logprobs=[], **self._where())

    def finish(self, usage: Mapping[str, int]) -> Iterator[str]:
        text = "".join(self.text)
        yield self._event("response.output_text.done", text=text, logprobs=[], **self._where())
        yield self._event("response.content_part.done", part=_text_part(text), **self._where())
        yield self._event("response.output_item.done", output_index=0,
                          item=_message(self.message_id, "completed", text))
        yield self._event("response.completed", response=completed_response(self.head, text, usage))

    def failed(self, error: Any) -> str:
        response = {**self.head, "status": "failed", "output": [], "usage": None,
                    "error": {"code": error.code or "server_error", "message": error.message}}
        return self._event("response.failed", response=response)


def response_events(head: Mapping[str, Any]) -> ResponseEvents:
    return ResponseEvents(head)
