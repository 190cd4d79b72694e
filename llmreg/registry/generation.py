"""The one mapping from a release tuple to what a model backend receives.

The gateway (`llmreg.serving`) and the eval runners (`evals.runners`) both build their
requests here, so an entry is served with the configuration its eval certified:

- params: the entry's `params` in canonical (OpenAI) names, whatever dialect the entry was
  written in (`max_new_tokens` is `max_tokens`), translated per engine by
  `transformers_kwargs`, `vllm_sampling_kwargs` and `openai_body`;
- a caller's overrides, accepted only as the entry's `serving:` policy allows
  (`request_params`; a refusal names the field and the pinned value);
- the prompt: the entry's template rendered by the template's message rule (`render_input`);
- the tool schemas `tools_ref` names (`load_tools`).

    serving:                    # every key optional; these are the defaults
      max_tokens: 300           # cap on a caller's max_tokens (default: params.max_tokens, else 1024)
      max_n: 1                  # most choices per request
      messages: template        # template | chat (see render_input)
      allow:                    # request fields a caller may set to another value than the entry's
        seed: true              # defaults: seed, logprobs, top_logprobs (they do not move the distribution)
        temperature: [0.0, 1.0] # a number field: the bounds a caller may choose within
        stop: true

Pure: no torch, transformers, vllm or HTTP imports; errors are `BadInput` naming the field.
"""
from __future__ import annotations

import functools
import math
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import BadInput
from .fields import fail, show, thaw

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping, Sequence

    from .prompts import PromptTemplate

# Param names entries may be written with, mapped to the canonical (OpenAI) name.
ALIASES = {"max_new_tokens": "max_tokens", "max_completion_tokens": "max_tokens", "num_return_sequences": "n",
           "stop_sequences": "stop"}
# Request fields that change or shape the answer; the policy decides who may set them.
SAMPLING_FIELDS = ("max_tokens", "temperature", "top_p", "seed", "stop", "presence_penalty", "frequency_penalty",
                   "n", "logprobs", "top_logprobs", "response_format", "tools", "tool_choice", "logit_bias")
NUMBER_BOUNDS = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0), "presence_penalty": (-2.0, 2.0),
                 "frequency_penalty": (-2.0, 2.0), "top_logprobs": (0, 20)}
# Values equal to what the request would get without the field: sending them changes nothing.
NEUTRAL = {"n": 1, "logprobs": False, "presence_penalty": 0.0, "frequency_penalty": 0.0, "top_p": 1.0}
DEFAULT_ALLOW = MappingProxyType({"seed": True, "logprobs": True, "top_logprobs": True})
DEFAULT_MAX_TOKENS_CAP = 1024
_UNSET = object()  # "the entry does not pin it and it has no neutral value"
MESSAGE_RULES = ("template", "chat")
POLICY_KEYS = ("max_tokens", "max_n", "messages", "allow")
SYSTEM_ROLES = ("system", "developer")

# What each local engine can honour; anything else a request asks for is refused, never ignored.
TRANSFORMERS_FIELDS = frozenset({"max_tokens", "temperature", "top_p", "seed", "stop", "n", "repetition_penalty",
                                 "top_k", "num_beams"})
VLLM_FIELDS = frozenset({"max_tokens", "temperature", "top_p", "seed", "stop", "n", "presence_penalty",
                         "frequency_penalty", "logprobs", "top_logprobs", "repetition_penalty", "top_k"})


# ---------------------------------------------------------------------------- params

def canonical_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry's params under canonical names (`max_new_tokens` -> `max_tokens`; `stop` a list)."""
    out: dict[str, Any] = {}
    for key, value in thaw(params or {}).items():
        name = ALIASES.get(key, key)
        if name in out and out[name] != value:
            fail(f"params.{key}", f"means the same as params.{name} ({show(out[name])}) with another value; keep one")
        out[name] = value
    if isinstance(out.get("stop"), str):
        out["stop"] = [out["stop"]]
    return out


def pinned_generation(spec: Any) -> dict[str, Any]:
    """What the entry pins for generation: its params (canonical names) plus what its decoding
    strategy means for a request (release_parts.py): `greedy` is temperature 0, `beam_search`
    sends num_beams (an engine without beams refuses it, never ignores it). `sampling` and
    `speculative` change nothing in the request (speculation is the server's deployment)."""
    out = canonical_params(spec.params)
    decoding = thaw(getattr(spec, "decoding", None) or {})
    strategy = decoding.get("strategy")
    if strategy == "greedy":
        if float(out.get("temperature") or 0.0) > 0.0:
            fail("params.temperature", f"{out['temperature']} contradicts decoding.strategy greedy; set 0 or "
                                       "change the strategy to sampling")
        out.setdefault("temperature", 0.0)
    elif strategy == "beam_search":
        out["num_beams"] = int(decoding.get("num_beams") or 4)
    return out


@dataclass(frozen=True, slots=True)
class ServingPolicy:
    """Which request fields a caller may set, within which bounds (the entry's `serving:`)."""

    max_tokens: int = DEFAULT_MAX_TOKENS_CAP
    max_n: int = 1
    messages: str = "template"
    allow: Mapping[str, Any] = field(default_factory=lambda: DEFAULT_ALLOW)

    def allows(self, key: str) -> Any:
        return self.allow.get(key, False)


def parse_policy(serving: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None) -> ServingPolicy:
    """Validate an entry's `serving:` section against its params; BadInput names the field."""
    data = thaw(serving or {})
    if not isinstance(data, dict):
        fail("serving", f"expected a mapping such as {{max_tokens: 300, allow: {{seed: true}}}}, got {show(data)}")
    unknown = sorted(set(data) - set(POLICY_KEYS))
    if unknown:
        fail(f"serving.{unknown[0]}", f"unknown key; allowed: {', '.join(POLICY_KEYS)}")
    pinned = canonical_params(params)
    pinned_max = pinned.get("max_tokens")
    cap = data.get("max_tokens", pinned_max if pinned_max is not None else DEFAULT_MAX_TOKENS_CAP)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        fail("serving.max_tokens", f"must be a positive integer, got {show(cap)}")
    if isinstance(pinned_max, int) and not isinstance(pinned_max, bool) and cap < pinned_max:
        fail("serving.max_tokens",
             f"{cap} is below params.max_tokens {pinned_max}; the cap must allow the pinned value")
    max_n = data.get("max_n", 1)
    if isinstance(max_n, bool) or not isinstance(max_n, int) or not 1 <= max_n <= 128:
        fail("serving.max_n", f"must be an integer between 1 and 128, got {show(max_n)}")
    rule = data.get("messages", "template")
    if rule not in MESSAGE_RULES:
        fail("serving.messages", f"must be one of {', '.join(MESSAGE_RULES)}, got {show(rule)}")
    allow: dict[str, bool | tuple[float, float]] = dict(DEFAULT_ALLOW)
    raw_allow = data.get("allow") or {}
    if not isinstance(raw_allow, dict):
        fail("serving.allow", f"expected a mapping of request field -> true|false|[min, max], got {show(raw_allow)}")
    for key, rule_value in raw_allow.items():
        where = f"serving.allow.{key}"
        if key in ("max_tokens", "n"):
            bound = "max_tokens" if key == "max_tokens" else "max_n"
            fail(where, f"{key} is bounded by serving.{bound}; set that instead")
        if key not in SAMPLING_FIELDS:
            allowed = ", ".join(f for f in SAMPLING_FIELDS if f not in ("max_tokens", "n"))
            fail(where, f"unknown request field; allowed: {allowed}")
        if isinstance(rule_value, bool):
            allow[key] = rule_value
            continue
        if key not in NUMBER_BOUNDS:
            fail(where, f"must be true or false, got {show(rule_value)}")
        lo_max, hi_max = NUMBER_BOUNDS[key]
        if (not isinstance(rule_value, list) or len(rule_value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rule_value)
                or not lo_max <= rule_value[0] <= rule_value[1] <= hi_max):
            fail(where, f"must be true, false or [min, max] within [{lo_max:g}, {hi_max:g}], got {show(rule_value)}")
        allow[key] = (float(rule_value[0]), float(rule_value[1]))
    return ServingPolicy(max_tokens=cap, max_n=max_n, messages=rule, allow=MappingProxyType(allow))


def check_serving_section(serving: Mapping[str, Any], params: Mapping[str, Any]) -> Mapping[str, Any]:
    """What entry.py calls: validate and return the section unchanged."""
    parse_policy(serving, params)
    return serving


def _same(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(float(a), float(b), rel_tol=0.0, abs_tol=1e-12)
    return a == b


def request_params(pinned: Mapping[str, Any], policy: ServingPolicy, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The params a backend gets: the entry's, plus what the caller may set under the policy.

    A field the caller sends with the entry's value (or a no-op default such as `n: 1`) is
    accepted; another value is accepted only when `serving.allow` lets callers set it and it
    lies within the bounds; otherwise BadInput names the field and the pinned value.
    `max_tokens` defaults to the pinned value (or the cap) and may be anything up to the cap.
    """
    out = dict(pinned)
    out.setdefault("max_tokens", policy.max_tokens)
    for key, value in requested.items():
        if value is None:
            continue  # an explicit null is "not sent", as OpenAI reads it
        if key == "max_tokens":
            if value > policy.max_tokens:
                fail(key, f"{value} is above this entry's cap of {policy.max_tokens} (serving.max_tokens); "
                          f"ask for at most {policy.max_tokens}")
            out[key] = value
            continue
        if key == "n":
            if value > policy.max_n:
                fail(key, f"{value} choices requested; this entry serves at most {policy.max_n} (serving.max_n)")
            if value > 1:
                out[key] = value
            continue
        baseline = pinned[key] if key in pinned else NEUTRAL.get(key, _UNSET)
        if baseline is not _UNSET and _same(baseline, value):
            continue
        rule = policy.allows(key)
        if rule is False:
            pinned_text = (f"pinned to {show(pinned[key])} by the entry" if key in pinned
                           else "not set by the entry, and its serving policy does not let callers set it")
            fail(key, f"{show(value)} refused: {key} is {pinned_text}; omit it"
                      + (f" or send {show(pinned[key])}" if key in pinned else "")
                      + " (or register a version whose serving.allow permits it)")
        if isinstance(rule, tuple):
            lo, hi = rule
            if not lo <= float(value) <= hi:
                fail(key, f"{show(value)} is outside the range this entry allows callers, [{lo:g}, {hi:g}] "
                          f"(serving.allow.{key})"
                          + (f"; the pinned value is {show(pinned[key])}" if key in pinned else ""))
        out[key] = value
    return out


def unsupported(params: Mapping[str, Any], engine: str) -> list[str]:
    """Fields in `params` the named local engine cannot honour (excluding neutral values)."""
    known = TRANSFORMERS_FIELDS if engine == "transformers" else VLLM_FIELDS
    return [k for k, v in params.items() if k not in known and v is not None and not _same(NEUTRAL.get(k, _UNSET), v)]


def apply_stop(text: str, stops: Any) -> tuple[str, bool]:
    """Cut `text` at the first stop string (OpenAI semantics: the stop string is not returned).
    Local engines (the gateway's and the eval runner's) apply `stop` with this."""
    if not stops:
        return text, False
    if isinstance(stops, str):
        stops = [stops]
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def served_params(spec: Any) -> dict[str, Any]:
    """What a backend gets for `spec` when the caller overrides nothing: the eval runners
    generate with exactly this, the gateway serves it by default."""
    return request_params(pinned_generation(spec), parse_policy(getattr(spec, "serving", None), spec.params), {})


def is_sampling(params: Mapping[str, Any]) -> bool:
    """Local engines decode greedily unless the params say temperature > 0."""
    return float(params.get("temperature") or 0.0) > 0.0


def transformers_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """`model.generate(**kwargs)` for canonical params (seed and stop are applied by the caller)."""
    kwargs: dict[str, Any] = {"max_new_tokens": int(params["max_tokens"]),
                              "num_beams": int(params.get("num_beams") or 1)}
    if is_sampling(params):
        kwargs.update(do_sample=True, temperature=float(params["temperature"]),
                      top_p=float(params.get("top_p", 1.0)))
        if params.get("top_k") is not None:
            kwargs["top_k"] = int(params["top_k"])
    else:
        kwargs["do_sample"] = False
    if params.get("repetition_penalty") is not None:
        kwargs["repetition_penalty"] = float(params["repetition_penalty"])
    if int(params.get("n") or 1) > 1:
        kwargs["num_return_sequences"] = int(params["n"])
    return kwargs


def vllm_sampling_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """`vllm.SamplingParams(**kwargs)` for canonical params."""
    kwargs: dict[str, Any] = {"max_tokens": int(params["max_tokens"]),
                              "temperature": float(params.get("temperature") or 0.0)}
    for key in ("top_p", "seed", "stop", "presence_penalty", "frequency_penalty", "repetition_penalty", "top_k"):
        if params.get(key) is not None:
            kwargs[key] = params[key]
    if int(params.get("n") or 1) > 1:
        kwargs["n"] = int(params["n"])
    if params.get("logprobs"):
        kwargs["logprobs"] = int(params.get("top_logprobs") or 0)
    return kwargs


def openai_body(params: Mapping[str, Any], tools: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The OpenAI-compatible request fields (vLLM server, hosted providers) for canonical params."""
    body = {k: v for k, v in params.items() if v is not None}
    if tools:
        body["tools"] = [dict(t) for t in tools]
    return body


# ---------------------------------------------------------------------------- prompt

@dataclass(frozen=True, slots=True)
class RenderedInput:
    """What the model reads: `prompt` is the full text (completion, or a chat turn rendered
    into the template); `messages` is the conversation for chat backends; `as_chat` says the
    backend must format `messages` itself (tokenizer chat template, upstream chat)."""

    prompt: str
    messages: tuple[Mapping[str, Any], ...] = ()
    as_chat: bool = False


def message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) or hasattr(part, "get"))


def template_slots(template: PromptTemplate) -> tuple[str, ...]:
    """The template's slot names, each once, in the order they appear."""
    return _slots(template.template)


@functools.lru_cache(maxsize=1024)
def _slots(text: str) -> tuple[str, ...]:
    # parsed once per template text: this runs twice per gateway request
    names = (name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name)
    return tuple(dict.fromkeys(names))


def render_input(template: PromptTemplate | None, rule: str, *, prompt: str | None = None,
                 messages: Sequence[Mapping[str, Any]] = (),
                 variables: Mapping[str, str] | None = None) -> RenderedInput:
    """Render a request through the entry's template, by the template's message rule.

    Completion requests: `prompt` fills `{text}`. Chat requests: the last user message fills
    `{text}`; then, by `serving.messages`:
    - `template` (default): the template is the whole input. System/developer messages fill
      a `{system}` slot and earlier turns a `{history}` slot ("role: text" lines); a request
      carrying either for a template without that slot is refused (400 naming the message),
      never dropped. The backend gets one user turn, the rendered text.
    - `chat`: the rendered text replaces the last user message and the conversation goes to
      the backend as chat (a local model formats it with its tokenizer's chat template).
    Without a template the request goes as it came (`as_chat` for chat).
    """
    variables = dict(variables or {})
    if template is None:
        if messages:
            last = _last_user(messages)
            text = message_text(messages[last]) if last is not None else ""
            return RenderedInput(text, tuple(messages), as_chat=True)
        return RenderedInput(prompt or "")
    slots = template_slots(template)
    if not messages:
        if prompt is not None:
            variables.setdefault("text", prompt)
        return RenderedInput(_render(template, variables))
    last = _last_user(messages)
    if last is None:
        raise BadInput("messages: no user message; the entry's prompt template fills its {text} slot from the last "
                       "user message, so send one", field="messages")
    variables.setdefault("text", message_text(messages[last]))
    if rule == "chat":
        rendered = _render(template, variables)
        turned = tuple(messages[:last]) + ({"role": "user", "content": rendered},) + tuple(messages[last + 1:])
        return RenderedInput(rendered, turned, as_chat=True)
    system, history = [], []
    for i, message in enumerate(messages):
        role = message.get("role")
        if i == last:
            continue
        if i > last:
            raise BadInput(f"messages[{i}]: a {role} message after the last user message cannot go through template "
                           f"{template.ref}; end the conversation with the user turn", field=f"messages[{i}]")
        if role in SYSTEM_ROLES:
            if "system" not in slots:
                raise BadInput(f"messages[{i}]: template {template.ref} has no {{system}} slot, so a {role} message "
                               "cannot be served (the entry's serving.messages rule is 'template'); drop it, or "
                               "register a version whose template has {system} or whose serving.messages is 'chat'",
                               field=f"messages[{i}]")
            system.append(message_text(message))
        else:
            if "history" not in slots:
                raise BadInput(f"messages[{i}]: template {template.ref} serves one turn (no {{history}} slot), so "
                               "earlier turns cannot be served (serving.messages is 'template'); send only the last "
                               "user message, or register a version with {history} or serving.messages 'chat'",
                               field=f"messages[{i}]")
            history.append(f"{role}: {message_text(message)}")
    if "system" in slots:
        variables.setdefault("system", "\n".join(system))
    if "history" in slots:
        variables.setdefault("history", "\n".join(history))
    rendered = _render(template, variables)
    return RenderedInput(rendered, ({"role": "user", "content": rendered},))


def _last_user(messages: Sequence[Mapping[str, Any]]) -> int | None:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return None


def _render(template: PromptTemplate, variables: Mapping[str, str]) -> str:
    missing = [name for name in template_slots(template) if name not in variables]
    if missing:
        hint = " (the last user message, or the prompt, fills 'text')" if missing[0] == "text" else ""
        raise BadInput(f"llmreg.variables.{missing[0]}: prompt {template.ref} needs variable {missing[0]!r}; pass it "
                       f"in \"llmreg\": {{\"variables\": {{\"{missing[0]}\": ...}}}}{hint}",
                       field=f"llmreg.variables.{missing[0]}")
    return template.render(**variables)


# ---------------------------------------------------------------------------- tools

def load_tools(ref: str, directory: str | os.PathLike[str]) -> tuple[Mapping[str, Any], ...]:
    """The tool schemas `ref` (NAME@VERSION) names: a YAML/JSON file under `directory` with
    `name`, `version` and `tools` (OpenAI function-calling format). NotFound-style BadInput
    names the ref and the directory."""
    from .documents import read_document

    name, _, version = ref.partition("@")
    root = Path(directory)
    candidates = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()) \
        if root.is_dir() else []
    for path in candidates:
        try:
            data = read_document(path, "tool schemas")
        except BadInput:
            continue
        if isinstance(data, dict) and data.get("name") == name and str(data.get("version")) == version:
            tools = data.get("tools")
            if not isinstance(tools, list) or not all(isinstance(t, dict) and t.get("type") == "function"
                                                      and isinstance(t.get("function"), dict) for t in tools):
                fail("tools_ref",
                     f"{path}: 'tools' must be a list of {{type: function, function: {{name, parameters}}}}")
            return tuple(MappingProxyType(t) for t in tools)
    fail("tools_ref", f"no tool schema file for {ref} (name: {name}, version: {version}) under {root}; add it or "
                      "point the gateway's tools_dir at the folder that holds it")


def merge_tools(pinned: Sequence[Mapping[str, Any]], requested: Sequence[Mapping[str, Any]] | None,
                policy: ServingPolicy) -> tuple[Mapping[str, Any], ...]:
    """The entry's tools, plus a caller's when `serving.allow.tools` permits (names must not clash)."""
    if not requested:
        return tuple(pinned)
    if [thaw(t) for t in requested] == [thaw(t) for t in pinned]:
        return tuple(pinned)
    if policy.allows("tools") is not True:
        names = ", ".join(_tool_name(t) for t in pinned) or "none"
        fail("tools", f"refused: tool schemas are pinned by the entry's tools_ref (tools: {names}); omit 'tools' "
                      "(or register a version whose serving.allow.tools is true)")
    taken = {_tool_name(t) for t in pinned}
    for i, tool in enumerate(requested):
        if _tool_name(tool) in taken:
            fail(f"tools[{i}]", f"tool {_tool_name(tool)!r} is already defined by the entry's tools_ref; rename it")
    return tuple(pinned) + tuple(requested)


def _tool_name(tool: Mapping[str, Any]) -> str:
    function = tool.get("function") if hasattr(tool, "get") else None
    return str(function.get("name")) if function is not None and hasattr(function, "get") else "?"


# ---------------------------------------------------------------------------- the request

@dataclass(frozen=True, slots=True)
class BackendRequest:
    """Everything a backend needs, decided by the release tuple (+ the allowed overrides)."""

    kind: str  # chat | completion
    input: RenderedInput
    params: Mapping[str, Any]
    tools: tuple[Mapping[str, Any], ...] = ()


def backend_request(spec: Any, *, kind: str, template: PromptTemplate | None = None,
                    tools: Sequence[Mapping[str, Any]] = (), prompt: str | None = None,
                    messages: Sequence[Mapping[str, Any]] = (), variables: Mapping[str, str] | None = None,
                    overrides: Mapping[str, Any] | None = None,
                    requested_tools: Sequence[Mapping[str, Any]] | None = None) -> BackendRequest:
    """The request `spec` (an EntrySpec) makes a backend receive for this input.

    The gateway passes the caller's fields as `overrides`; an eval runner passes none, so it
    generates with exactly the pinned params the gateway serves by default.
    """
    policy = parse_policy(getattr(spec, "serving", None), spec.params)
    params = request_params(pinned_generation(spec), policy, overrides or {})
    rendered = render_input(template, policy.messages, prompt=prompt, messages=messages, variables=variables)
    return BackendRequest(kind=kind, input=rendered, params=MappingProxyType(params),
                          tools=merge_tools(tools, requested_tools, policy))
