"""Validate OpenAI request bodies into one plain record the gateway works with.

Checks are explicit (no pydantic) so each refusal is the OpenAI error shape with `param`
set and a message that says what to send instead. Explicit nulls and no-op defaults are
accepted as OpenAI accepts them (`logprobs: null`, `tools: null`, `best_of: 1`,
`suffix: null`, `echo: false`, `response_format: {type: text}`, ...). The fields that
shape the answer are kept as the caller's requested `options` (canonical names); whether
the entry lets the caller set them is decided by its serving policy
(`llmreg.registry.generation.request_params`), not here.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping  # not typing's: isinstance through its alias costs ~2 us a check
from dataclasses import dataclass, field
from typing import Any

from llmreg.registry.generation import message_text as _message_text
from llmreg.serving import json_bytes
from llmreg.serving.api_errors import ApiError, bad_request
from llmreg.serving.templates import check_variables

CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
# Fields that shape the answer (the entry's serving policy decides who may set them).
OPTION_KEYS = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
               "logit_bias", "n")
# Accepted with any value: they do not change the answer (metadata, storage hints, caching hints).
NO_EFFECT_KEYS = ("metadata", "store", "service_tier", "parallel_tool_calls", "prompt_cache_key",
                  "safety_identifier")
# Accepted only as null (or the listed default): features the gateway does not serve.
ONLY_DEFAULT = {"modalities": (None, ["text"]), "audio": (None,), "prediction": (None,), "functions": (None,),
                "function_call": (None,), "reasoning_effort": (None,), "web_search_options": (None,),
                "verbosity": (None,), "suffix": (None, ""), "best_of": (None, 1), "echo": (None, False)}
COMMON_KEYS = ("model", "stream", "stream_options", "user", "llmreg") + OPTION_KEYS + NO_EFFECT_KEYS
CHAT_KEYS = frozenset(COMMON_KEYS + ("messages", "max_completion_tokens", "logprobs", "top_logprobs",
                                     "response_format", "tools", "tool_choice", "modalities", "audio", "prediction",
                                     "functions", "function_call", "reasoning_effort", "web_search_options",
                                     "verbosity"))
COMPLETION_KEYS = frozenset(COMMON_KEYS + ("prompt", "suffix", "best_of", "echo", "logprobs"))
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    kind: str  # "chat" | "completion"
    model: str
    messages: tuple[Mapping[str, Any], ...] = ()
    prompt: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # canonical names; None values dropped
    tools: tuple[Mapping[str, Any], ...] | None = None
    user: str | None = None
    caller: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    embedding_input: Any = None  # /v1/embeddings: a string, a list of strings or of token lists

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
        body = json_bytes.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise bad_request(f"could not parse the JSON body{where}; send valid JSON (Content-Type: application/json)",
                          code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request(f"the JSON body must be an object, got {type(body).__name__}", code="invalid_json")
    return body


message_text = _message_text


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
    if body.get("logprobs") is not None:
        if not isinstance(body["logprobs"], bool):
            raise bad_request("'logprobs' must be true or false", param="logprobs", code="invalid_type")
        if body["logprobs"]:
            options["logprobs"] = True
    if body.get("top_logprobs") is not None:
        options["top_logprobs"] = _int(body, "top_logprobs", 0, 20)
        if not options.get("logprobs") and options["top_logprobs"]:
            raise bad_request("'top_logprobs' needs 'logprobs': true", param="top_logprobs")
    response_format = body.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, Mapping) or response_format.get("type") not in (
                "text", "json_object", "json_schema"):
            raise bad_request("'response_format' must be {\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}",
                              param="response_format")
        if response_format.get("type") != "text":
            options["response_format"] = dict(response_format)
    tools = _tools(body.get("tools"))
    tool_choice = body.get("tool_choice")
    if tool_choice is not None:
        if not (tool_choice in ("none", "auto", "required") or (isinstance(tool_choice, Mapping)
                                                                and tool_choice.get("type") == "function")):
            raise bad_request("'tool_choice' must be none, auto, required or {\"type\": \"function\", ...}",
                              param="tool_choice")
        options["tool_choice"] = tool_choice if isinstance(tool_choice, str) else dict(tool_choice)
    return _build("chat", body, options, messages=checked, tools=tools)


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
    options = _options(body)
    if body.get("logprobs") is not None:
        count = _int(body, "logprobs", 0, 5)
        options["logprobs"] = True
        options["top_logprobs"] = count
    return _build("completion", body, options, prompt=prompt)


def parse_responses(body: Mapping[str, Any]) -> ParsedRequest:
    """POST /v1/responses (plain text): `input` (a string or messages) + `instructions`."""
    allowed = frozenset(("model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "user",
                         "stream", "llmreg", "metadata", "store", "seed") + tuple(NO_EFFECT_KEYS))
    _check_keys(body, allowed)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        messages: list[Any] = [{"role": "user", "content": raw_input}]
    elif isinstance(raw_input, list) and raw_input:
        messages = [{"role": m.get("role"), "content": _response_content(m.get("content"), i)}
                    if isinstance(m, Mapping) else m for i, m in enumerate(raw_input)]
    else:
        raise bad_request("'input' must be a string or a non-empty array of {role, content}", param="input")
    if body.get("instructions") is not None:
        if not isinstance(body["instructions"], str):
            raise bad_request("'instructions' must be a string", param="instructions", code="invalid_type")
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    chat = {k: v for k, v in body.items() if k not in ("input", "instructions", "max_output_tokens")}
    chat["messages"] = messages
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    return parse_chat(chat)


def parse_embeddings(body: Mapping[str, Any]) -> ParsedRequest:
    """POST /v1/embeddings: `input` (a string or a list of strings/token lists)."""
    _check_keys(body, frozenset(("model", "input", "encoding_format", "dimensions", "user", "llmreg")))
    value = body.get("input")
    ok = isinstance(value, str) or (isinstance(value, list) and value and all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(t, int) for t in v)) for v in value))
    if not ok:
        raise bad_request("'input' must be a string or a non-empty array of strings (or token arrays)", param="input",
                          code="missing_required_parameter" if value is None else "invalid_type")
    options: dict[str, Any] = {}
    if body.get("encoding_format") is not None:
        if body["encoding_format"] not in ("float", "base64"):
            raise bad_request("'encoding_format' must be float or base64", param="encoding_format")
        options["encoding_format"] = body["encoding_format"]
    if body.get("dimensions") is not None:
        options["dimensions"] = _int(body, "dimensions", 1, 65536)
    parsed = _build("embeddings", body, options)
    return ParsedRequest(kind="embeddings", model=parsed.model, options=options, user=parsed.user,
                         caller=parsed.caller, embedding_input=value)


def _response_content(content: Any, i: int) -> Any:
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") not in ("input_text", "output_text", "text"):
                raise bad_request(f"'input[{i}].content[{j}]' must be a text part (only text is served)",
                                  param=f"input[{i}].content[{j}]")
            parts.append({"type": "text", "text": part.get("text", "")})
        return parts
    return content


def _build(kind: str, body: Mapping[str, Any], options: dict[str, Any], **parts: Any) -> ParsedRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: name a registry entry, e.g. 'support-triage@production'",
                          param="model", code="missing_required_parameter" if model is None else "invalid_type")
    stream = body.get("stream")
    if not isinstance(stream, bool) and stream is not None:
        raise bad_request("'stream' must be true or false", param="stream", code="invalid_type")
    include_usage = False
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, Mapping) or not set(stream_options) <= {"include_usage",
                                                                                  "include_obfuscation"}:
            raise bad_request("'stream_options' must be {\"include_usage\": true|false}", param="stream_options")
        include_usage = bool(stream_options.get("include_usage"))
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
                         variables=check_variables(ext.get("variables")), stream=bool(stream),
                         include_usage=include_usage, **parts)


def _check_keys(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key, value in body.items():
        if key not in allowed:
            raise bad_request(f"Unrecognized request argument supplied: {key}", param=key, code="unknown_parameter")
        defaults = ONLY_DEFAULT.get(key)
        if defaults is not None and value not in defaults:
            shown = " or ".join(json.dumps(d) for d in defaults)
            raise bad_request(f"'{key}' is not supported by the gateway; omit it or send {shown}", param=key,
                              code="unsupported_parameter")


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
    out = {"role": role, "content": content}
    for key in ("name", "tool_calls", "tool_call_id"):  # kept for chat upstreams (tool round trips)
        if message.get(key) is not None:
            out[key] = message[key]
    return out


def _tools(value: Any) -> tuple[Mapping[str, Any], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request("'tools' must be an array of {\"type\": \"function\", \"function\": {...}}", param="tools")
    for i, tool in enumerate(value):
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not isinstance(tool.get("function"), Mapping) \
                or not isinstance(tool["function"].get("name"), str):
            raise bad_request(f"'tools[{i}]' must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}",
                              param=f"tools[{i}]")
    return tuple(dict(t) for t in value) or None


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
    if body.get("n") is not None:
        options["n"] = _int(body, "n", 1, 128)
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not 1 <= len(stops) <= 4 or not all(isinstance(s, str) and s for s in stops):
            raise bad_request("'stop' must be a string or an array of 1 to 4 non-empty strings", param="stop")
        options["stop"] = stops
    bias = body.get("logit_bias")
    if bias is not None:
        if not isinstance(bias, Mapping):
            raise bad_request("'logit_bias' must map token ids to numbers", param="logit_bias")
        if bias:
            options["logit_bias"] = dict(bias)
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
