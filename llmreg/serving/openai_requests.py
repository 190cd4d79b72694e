"""Validate OpenAI request bodies into one plain record the gateway works with.

Checks are explicit (no pydantic) so each refusal is the OpenAI error shape with `param`
set and a message that says what to send instead. Sampling options the client gives are
kept separately from the entry's pinned params; the gateway decides how they combine.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.serving.api_errors import ApiError, bad_request
from llmreg.serving.templates import check_variables

CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
# Options a client may send; entry params win over these (see gateway.merge_params).
OPTION_KEYS = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")
# Accepted and dropped: they do not change the answer.
IGNORED_KEYS = ("metadata", "store", "service_tier", "stream_options", "parallel_tool_calls")
CHAT_KEYS = frozenset(("model", "messages", "n", "stream", "user", "llmreg", "max_completion_tokens")
                      + OPTION_KEYS + IGNORED_KEYS)
COMPLETION_KEYS = frozenset(("model", "prompt", "n", "stream", "user", "llmreg", "echo") + OPTION_KEYS + IGNORED_KEYS)
PINNED_BY_ENTRY = {
    "tools": "tool schemas are pinned by the entry's tools_ref",
    "tool_choice": "tool schemas are pinned by the entry's tools_ref",
    "functions": "tool schemas are pinned by the entry's tools_ref",
    "response_format": "output format is part of the entry's prompt and params",
}
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    kind: str  # "chat" | "completion"
    model: str
    messages: tuple[Mapping[str, Any], ...] = ()
    prompt: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    user: str | None = None
    caller: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    stream: bool = False

    def text_variable(self) -> str | None:
        """What fills the template's `text`: the prompt, or the last user message."""
        if self.kind == "completion":
            return self.prompt
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return None


def decode_body(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}", code="request_too_large")
    if not raw.strip():
        raise bad_request("request body is empty; send a JSON object with 'model' and 'messages' (or 'prompt')",
                          code="invalid_json")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise bad_request(f"could not parse the JSON body{where}; send valid JSON (Content-Type: application/json)",
                          code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request(f"the JSON body must be an object, got {type(body).__name__}", code="invalid_json")
    return body


def message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))


def parse_chat(body: Mapping[str, Any]) -> ParsedRequest:
    _check_keys(body, CHAT_KEYS)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array of {role, content}", param="messages",
                          code="missing_required_parameter" if messages is None else "invalid_type")
    checked = tuple(_check_message(i, m) for i, m in enumerate(messages))
    options = _options(body)
    if body.get("max_completion_tokens") is not None:
        options["max_tokens"] = _int(body, "max_completion_tokens", 1, 1_000_000)
    return _build("chat", body, options, messages=checked)


def parse_completion(body: Mapping[str, Any]) -> ParsedRequest:
    _check_keys(body, COMPLETION_KEYS)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise bad_request("'prompt' must be one string (batched prompts are not supported: send one request each)",
                              param="prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("'prompt' must be a string", param="prompt",
                          code="missing_required_parameter" if prompt is None else "invalid_type")
    if body.get("echo"):
        raise bad_request("'echo' is not supported", param="echo")
    return _build("completion", body, _options(body), prompt=prompt)


def _build(kind: str, body: Mapping[str, Any], options: dict[str, Any], **parts: Any) -> ParsedRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: name a registry entry, e.g. 'support-triage@production'",
                          param="model", code="missing_required_parameter" if model is None else "invalid_type")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise bad_request("'n' must be 1: the gateway returns one choice per request", param="n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise bad_request("'stream' must be true or false", param="stream", code="invalid_type")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > 256):
        raise bad_request("'user' must be a string of at most 256 characters", param="user", code="invalid_type")
    ext = body.get("llmreg") or {}
    if not isinstance(ext, Mapping):
        raise bad_request("'llmreg' must be an object such as {\"variables\": {...}}", param="llmreg", code="invalid_type")
    unknown = sorted(set(ext) - {"variables", "caller"})
    if unknown:
        raise bad_request(f"'llmreg.{unknown[0]}' is not a known field; allowed: variables, caller", param=f"llmreg.{unknown[0]}",
                          code="unknown_parameter")
    caller = ext.get("caller")
    if caller is not None and (not isinstance(caller, str) or not caller or len(caller) > 256):
        raise bad_request("'llmreg.caller' must be a non-empty string of at most 256 characters", param="llmreg.caller")
    return ParsedRequest(kind=kind, model=model, options=options, user=user or None, caller=caller,
                         variables=check_variables(ext.get("variables")), stream=bool(stream), **parts)


def _check_keys(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key in allowed:
            continue
        if key in PINNED_BY_ENTRY:
            raise bad_request(f"'{key}' is not accepted: {PINNED_BY_ENTRY[key]}; register a new entry version to change it",
                              param=key, code="unsupported_parameter")
        raise bad_request(f"Unrecognized request argument supplied: {key}", param=key, code="unknown_parameter")


def _check_message(i: int, message: Any) -> Mapping[str, Any]:
    where = f"messages[{i}]"
    if not isinstance(message, Mapping):
        raise bad_request(f"'{where}' must be an object with 'role' and 'content'", param=where, code="invalid_type")
    role = message.get("role")
    if role not in CHAT_ROLES:
        raise bad_request(f"'{where}.role' must be one of {', '.join(CHAT_ROLES)}, got {role!r}", param=f"{where}.role")
    content = message.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_request(f"'{where}.content[{j}]' must be {{\"type\": \"text\", \"text\": ...}} (only text is served)",
                                  param=f"{where}.content[{j}]")
    elif not isinstance(content, str) and not (content is None and role == "assistant"):
        raise bad_request(f"'{where}.content' must be a string or an array of text parts", param=f"{where}.content",
                          code="invalid_type")
    return {"role": role, "content": content}


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if body.get("max_tokens") is not None:
        options["max_tokens"] = _int(body, "max_tokens", 1, 1_000_000)
    for key, lo, hi in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0), ("presence_penalty", -2.0, 2.0),
                        ("frequency_penalty", -2.0, 2.0)):
        if body.get(key) is not None:
            options[key] = _number(body, key, lo, hi)
    if body.get("seed") is not None:
        options["seed"] = _int(body, "seed", -(2 ** 63), 2 ** 63 - 1)
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not 1 <= len(stops) <= 4 or not all(isinstance(s, str) and s for s in stops):
            raise bad_request("'stop' must be a string or an array of 1 to 4 non-empty strings", param="stop")
        options["stop"] = stops
    return options


def _int(body: Mapping[str, Any], key: str, lo: int, hi: int) -> int:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"'{key}' must be an integer, got {json.dumps(value)}", param=key, code="invalid_type")
    if not lo <= value <= hi:
        raise bad_request(f"'{key}' must be between {lo} and {hi}, got {value}", param=key)
    return value


def _number(body: Mapping[str, Any], key: str, lo: float, hi: float) -> float:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_request(f"'{key}' must be a number, got {json.dumps(value)}", param=key, code="invalid_type")
    if not lo <= value <= hi:
        raise bad_request(f"'{key}' must be between {lo:g} and {hi:g}, got {value:g}", param=key)
    return float(value)
