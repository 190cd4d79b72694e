"""The pure mapping from a release tuple to a backend request (llmreg.registry.generation):
params dialects, the serving policy, the message rule per template, tool schemas, and the
per-engine translations the gateway and the eval runners share."""
from __future__ import annotations

import pytest

from llmreg.registry.entry import EntrySpec
from llmreg.registry.errors import BadInput
from llmreg.registry.generation import (backend_request, canonical_params, load_tools, openai_body, parse_policy,
                                        render_input, request_params, served_params, transformers_kwargs,
                                        vllm_sampling_kwargs)
from llmreg.registry.prompts import PromptTemplate

TEMPLATE = PromptTemplate("triage-prompt", "v1", "ticket : {text} label :")
WITH_SLOTS = PromptTemplate("triage-prompt", "v2", "{system}\n{history}\nticket : {text} label :")


def test_params_dialects_are_one_vocabulary():
    assert canonical_params({"max_new_tokens": 1, "temperature": 0.0, "stop": "\n"}) == \
        {"max_tokens": 1, "temperature": 0.0, "stop": ["\n"]}
    with pytest.raises(BadInput, match="params.max_new_tokens: means the same as params.max_tokens"):
        canonical_params({"max_tokens": 5, "max_new_tokens": 6})


def test_engine_translations():
    greedy = {"max_tokens": 4, "temperature": 0.0}
    assert transformers_kwargs(greedy) == {"max_new_tokens": 4, "num_beams": 1, "do_sample": False}
    sampled = {"max_tokens": 4, "temperature": 0.7, "top_p": 0.9, "n": 3}
    assert transformers_kwargs(sampled) == {"max_new_tokens": 4, "num_beams": 1, "do_sample": True,
                                            "temperature": 0.7, "top_p": 0.9, "num_return_sequences": 3}
    assert vllm_sampling_kwargs({**sampled, "seed": 1, "logprobs": True, "top_logprobs": 2}) == \
        {"max_tokens": 4, "temperature": 0.7, "top_p": 0.9, "seed": 1, "n": 3, "logprobs": 2}
    tool = {"type": "function", "function": {"name": "f"}}
    assert openai_body({"max_tokens": 4, "seed": None}, [tool]) == {"max_tokens": 4, "tools": [tool]}


def test_policy_defaults_and_bounds():
    policy = parse_policy(None, {"max_new_tokens": 5, "temperature": 0})
    pinned = canonical_params({"max_new_tokens": 5, "temperature": 0})
    assert request_params(pinned, policy, {}) == {"max_tokens": 5, "temperature": 0}
    assert request_params(pinned, policy, {"max_tokens": 3, "temperature": 0.0, "n": 1, "seed": 9, "top_p": 1.0,
                                           "logprobs": None}) == {"max_tokens": 3, "temperature": 0, "seed": 9}
    for fields, says in (({"max_tokens": 6}, "cap of 5"), ({"temperature": 0.5}, "pinned to 0"),
                         ({"top_p": 0.5}, "does not let callers set it"), ({"n": 2}, "at most 1")):
        with pytest.raises(BadInput, match=says) as info:
            request_params(pinned, policy, fields)
        assert info.value.field == next(iter(fields))
    open_policy = parse_policy({"max_tokens": 50, "max_n": 2, "allow": {"temperature": [0, 1]}}, {"max_tokens": 5})
    assert request_params({"max_tokens": 5}, open_policy, {"max_tokens": 50, "temperature": 1.0, "n": 2}) == \
        {"max_tokens": 50, "temperature": 1.0, "n": 2}
    with pytest.raises(BadInput, match=r"outside the range this entry allows callers, \[0, 1\]"):
        request_params({"max_tokens": 5}, open_policy, {"temperature": 1.5})


@pytest.mark.parametrize(("serving", "field", "says"), [
    ({"max_tokens": 2}, "serving.max_tokens", "below params.max_tokens 5"),
    ({"allow": {"temperature": [1, 0]}}, "serving.allow.temperature", "[min, max]"),
    ({"allow": {"max_tokens": True}}, "serving.allow.max_tokens", "serving.max_tokens"),
    ({"allow": {"frobnicate": True}}, "serving.allow.frobnicate", "unknown request field"),
    ({"messages": "all"}, "serving.messages", "template, chat"),
    ({"cap": 3}, "serving.cap", "unknown key"),
])
def test_bad_serving_sections_are_refused_at_registration(serving, field, says):
    with pytest.raises(BadInput, match=says) as info:
        EntrySpec.from_dict({"name": "x", "model": "gpt-5-mini-2026-01-01", "params": {"max_tokens": 5},
                             "serving": serving})
    assert info.value.field == field


def test_an_entry_without_serving_keeps_its_digest():
    data = {"name": "x", "model": "gpt-5-mini-2026-01-01", "params": {"max_tokens": 5}}
    assert "serving" not in EntrySpec.from_dict(data).to_dict()
    with_policy = EntrySpec.from_dict({**data, "serving": {"max_tokens": 9}})
    assert with_policy.digest != EntrySpec.from_dict(data).digest
    assert served_params(with_policy) == {"max_tokens": 5}


def test_the_decoding_strategy_reaches_the_request():
    base = {"name": "x", "model": "gpt-5-mini-2026-01-01", "params": {"max_tokens": 5}}
    greedy = EntrySpec.from_dict({**base, "decoding": {"strategy": "greedy"}})
    assert served_params(greedy) == {"max_tokens": 5, "temperature": 0.0}
    beams = EntrySpec.from_dict({**base, "decoding": {"strategy": "beam_search", "num_beams": 3}})
    assert served_params(beams)["num_beams"] == 3
    assert transformers_kwargs(served_params(beams))["num_beams"] == 3
    assert "num_beams" in vllm_unsupported(served_params(beams))  # refused by that engine, never ignored
    hot = EntrySpec.from_dict({**base, "params": {"max_tokens": 5, "temperature": 0.7}, "decoding": {"strategy": "greedy"}})
    with pytest.raises(BadInput, match="contradicts decoding.strategy greedy"):
        served_params(hot)


def vllm_unsupported(params):
    from llmreg.registry.generation import unsupported

    return unsupported(params, "vllm")


def test_message_rule_per_template():
    system = {"role": "system", "content": "be brief"}
    first, answer, last = ({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                           {"role": "user", "content": "login fails"})
    assert render_input(TEMPLATE, "template", prompt="login fails").prompt == "ticket : login fails label :"
    one = render_input(TEMPLATE, "template", messages=[last])
    assert one.messages == ({"role": "user", "content": "ticket : login fails label :"},) and not one.as_chat
    with pytest.raises(BadInput, match="no {system} slot") as info:
        render_input(TEMPLATE, "template", messages=[system, last])
    assert info.value.field == "messages[0]"
    with pytest.raises(BadInput, match="no {history} slot"):
        render_input(TEMPLATE, "template", messages=[first, answer, last])
    slotted = render_input(WITH_SLOTS, "template", messages=[system, first, answer, last])
    assert slotted.prompt == "be brief\nuser: hi\nassistant: hello\nticket : login fails label :"
    chat = render_input(TEMPLATE, "chat", messages=[system, first, answer, last])
    assert chat.as_chat and chat.messages[:3] == (system, first, answer)
    assert chat.messages[3] == {"role": "user", "content": "ticket : login fails label :"}
    with pytest.raises(BadInput, match="needs variable 'tier'"):
        render_input(PromptTemplate("p", "v1", "[{tier}] {text}"), "template", prompt="x")


def test_tool_schemas_from_tools_ref(tmp_path):
    (tmp_path / "t.yaml").write_text("name: triage-tools\nversion: v3\ntools:\n  - type: function\n"
                                     "    function: {name: lookup_policy}\n", encoding="utf-8")
    assert [t["function"]["name"] for t in load_tools("triage-tools@v3", tmp_path)] == ["lookup_policy"]
    with pytest.raises(BadInput, match="no tool schema file for triage-tools@v4"):
        load_tools("triage-tools@v4", tmp_path)
    spec = EntrySpec.from_dict({"name": "x", "model": "gpt-5-mini-2026-01-01", "params": {"max_tokens": 5},
                                "tools_ref": "triage-tools@v3"})
    request = backend_request(spec, kind="chat", template=TEMPLATE, tools=load_tools("triage-tools@v3", tmp_path),
                              messages=[{"role": "user", "content": "x"}])
    assert request.params == {"max_tokens": 5} and len(request.tools) == 1
    with pytest.raises(BadInput, match="tool schemas are pinned by the entry's tools_ref"):
        backend_request(spec, kind="chat", template=TEMPLATE, messages=[{"role": "user", "content": "x"}],
                        requested_tools=[{"type": "function", "function": {"name": "other"}}])
