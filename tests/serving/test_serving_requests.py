"""Request validation: OpenAI bodies in, one record out, or a 4xx naming the field."""
from __future__ import annotations

import json

import pytest

from llmreg.serving.api_errors import ApiError
from llmreg.serving.openai_requests import decode_body, parse_chat, parse_completion


def chat(**overrides):
    body = {"model": "support-triage@production", "messages": [{"role": "user", "content": "hi"}]}
    body.update(overrides)
    return body


def test_chat_text_variable_is_the_last_user_message():
    parsed = parse_chat(chat(messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "sec"}, {"type": "text", "text": "ond"}]},
    ], max_completion_tokens=9, user="u1", llmreg={"variables": {"customer": "acme", "tier": 2}}))
    assert parsed.text_variable() == "second"
    assert parsed.options == {"max_tokens": 9}
    assert parsed.user == "u1"
    assert parsed.variables == {"customer": "acme", "tier": "2"}


def test_completion_prompt_list_of_one():
    parsed = parse_completion({"model": "x", "prompt": ["hello"], "temperature": 0.5, "stop": "\n"})
    assert parsed.text_variable() == "hello"
    assert parsed.options == {"temperature": 0.5, "stop": ["\n"]}


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model", 400),
        (chat(messages=[]), "messages", 400),
        (chat(messages="hi"), "messages", 400),
        (chat(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role", 400),
        (chat(messages=[{"role": "user", "content": 5}]), "messages[0].content", 400),
        (chat(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "messages[0].content[0]", 400),
        (chat(temperature=3), "temperature", 400),
        (chat(temperature="hot"), "temperature", 400),
        (chat(max_tokens=0), "max_tokens", 400),
        (chat(max_tokens=True), "max_tokens", 400),
        (chat(n=0), "n", 400),
        (chat(logprobs=1), "logprobs", 400),
        (chat(top_logprobs=3), "top_logprobs", 400),
        (chat(audio={"voice": "x"}), "audio", 400),
        (chat(response_format={"type": "yaml"}), "response_format", 400),
        (chat(stop=["a", "b", "c", "d", "e"]), "stop", 400),
        (chat(tools=[{"type": "function"}]), "tools[0]", 400),
        (chat(tool_choice="sometimes"), "tool_choice", 400),
        (chat(frobnicate=1), "frobnicate", 400),
        (chat(llmreg={"variabels": {}}), "llmreg.variabels", 400),
        (chat(llmreg={"variables": {"a": [1]}}), "llmreg.variables.a", 400),
        (chat(user=["x"]), "user", 400),
    ],
)
def test_chat_refusals_name_the_param(body, param, status):
    with pytest.raises(ApiError) as info:
        parse_chat(body)
    assert info.value.status == status
    assert info.value.param == param
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"", 400), (b"{not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400), (b"{" + b" " * (1 << 20) + b"}", 413)],
)
def test_decode_body_refusals(raw, status):
    with pytest.raises(ApiError) as info:
        decode_body(raw)
    assert info.value.status == status


def test_decode_body_ok():
    assert decode_body(json.dumps(chat()).encode()) == chat()


def test_explicit_nulls_and_openai_defaults_are_accepted():
    """What LangChain, LiteLLM and the SDKs send when a field is unset: nulls and defaults."""
    parsed = parse_chat(chat(logprobs=None, top_logprobs=None, tools=None, tool_choice=None, response_format=None,
                             n=1, stream=None, stream_options=None, seed=None, stop=None, temperature=None,
                             logit_bias=None, functions=None, modalities=None, audio=None, store=False,
                             metadata={"a": "b"}, parallel_tool_calls=True))
    assert parsed.options == {"n": 1}
    assert parsed.tools is None
    completion = parse_completion({"model": "x", "prompt": "p", "logprobs": None, "best_of": 1, "suffix": None,
                                   "echo": False, "n": 1, "stream_options": None, "logit_bias": {}})
    assert completion.options == {"n": 1}
    assert parse_chat(chat(response_format={"type": "text"})).options == {}


def test_fields_that_shape_the_answer_are_kept_for_the_policy():
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    parsed = parse_chat(chat(logprobs=True, top_logprobs=2, tools=[tool], tool_choice="auto", n=2, seed=7,
                             response_format={"type": "json_object"}, stream=True,
                             stream_options={"include_usage": True}))
    assert parsed.options == {"logprobs": True, "top_logprobs": 2, "tool_choice": "auto", "n": 2, "seed": 7,
                              "response_format": {"type": "json_object"}}
    assert parsed.tools == (tool,) and parsed.stream and parsed.include_usage
    legacy = parse_completion({"model": "x", "prompt": "p", "logprobs": 3})
    assert legacy.options == {"logprobs": True, "top_logprobs": 3}
