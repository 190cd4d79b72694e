"""json_bytes.dumps: the gateway's JSON out is what json.dumps (compact, UTF-8) gives, by value,
through orjson where it can and json where it cannot."""
from __future__ import annotations

import json

import pytest

from llmreg.serving import json_bytes


@pytest.mark.parametrize("value", [
    {"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"role": "assistant", "content": "é ☃ \u2028 \"q\""}}],
     "usage": {"prompt_tokens": 12, "completion_tokens": 1}, "logprob": -0.125, "flag": None, "ok": True},
    [1, 2.5, 1e16, 0.1, -0.0, 2 ** 63 - 1, "x"],
    {"big": 2 ** 64 + 1},  # over 64 bits: json's encoder takes it
    {1: "non-string key"},  # json turns it into "1"
])
def test_same_value_as_json_dumps(value):
    out = json_bytes.dumps(value)
    assert isinstance(out, bytes)
    assert json.loads(out) == json.loads(json.dumps(value))


def test_compact_utf8_and_insertion_order():
    assert json_bytes.dumps({"b": 1, "a": [1, {"é": None}]}) == '{"b":1,"a":[1,{"é":null}]}'.encode()


def test_a_non_finite_number_goes_out_as_null_not_as_bare_nan():
    pytest.importorskip("orjson")
    out = json_bytes.dumps({"logprob": float("-inf"), "x": float("nan")})
    assert json.loads(out) == {"logprob": None, "x": None}


def test_without_orjson_the_same_bytes(monkeypatch):
    value = {"b": 1, "a": [1, {"é": None}], "t": "☃"}
    fast = json_bytes.dumps(value)
    monkeypatch.setattr(json_bytes, "orjson", None)
    assert json_bytes.dumps(value) == fast


@pytest.mark.parametrize("raw", [
    b'{"model":"support-triage@production","messages":[{"role":"user","content":"\\u00e9 \xc3\xa9"}],"seed":7}',
    b'{"seed": 18446744073709551616}',  # over 64 bits: json's int, not orjson's float
    b'{"seed": -9223372036854775809}',
    b'{"seed": 9223372036854775807, "t": 1.5e300, "u": 1e-400, "n": null}',
    b'{"a": 1, "a": 2}',  # the last one wins, as in json
    b'\xef\xbb\xbf{"bom": true}',
    b'{"x": NaN, "y": -Infinity}',  # not JSON; json reads it, and so must we
    b'"\\ud800"',  # a lone surrogate
    '{"text": "str in, not bytes"}',
])
def test_loads_reads_what_json_reads_with_the_same_types(raw):
    got, want = json_bytes.loads(raw), json.loads(raw)
    assert repr(got) == repr(want)  # repr: int vs float, -0.0, nan all show


@pytest.mark.parametrize("raw", [b'{"model": }', b'[1,]', b'', b'{"a": "\x01"}', b'\xff\xfe'])
def test_loads_refuses_what_json_refuses_with_json_s_error(raw):
    with pytest.raises(Exception) as ours:
        json_bytes.loads(raw)
    with pytest.raises(Exception) as theirs:
        json.loads(raw)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)
