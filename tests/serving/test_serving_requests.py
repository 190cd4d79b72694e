"""Request validation: OpenAI bodies in, one record out, or a 4xx naming the field."""
from __future__ import annotations

import json

import pytest

from llmreg.serving.api_errors import ApiError
from llmreg.serving.gateway import merge_params
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
        (chat(n=2), "n", 400),
        (chat(stop=["a", "b", "c", "d", "e"]), "stop", 400),
        (chat(tools=[]), "tools", 400),
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


def test_entry_params_win_over_client_options():
    assert merge_params({"max_tokens": 5, "temperature": 0}, {"max_tokens": 500, "top_p": 0.9}) == \
        {"max_tokens": 5, "temperature": 0, "top_p": 0.9}
