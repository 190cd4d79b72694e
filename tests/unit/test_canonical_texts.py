"""The registration fast paths produce exactly the bytes and results of the plain ones.

Registration encodes a release tuple once and reuses the text (digest, event payload,
projection row), freezes plain JSON without per-value field paths, and diffs by comparing
per-field canonical texts. Each shortcut is checked here against the straightforward
computation it replaces, on generated input: a mismatch would change digests or hashes.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmreg.registry import semver
from llmreg.registry.canonical import _ENCODER, Encoded, canonical_json, canonical_text, encode_object
from llmreg.registry.entry import Entry, EntrySpec
from llmreg.registry.errors import BadInput
from llmreg.registry.fields import MAX_DEPTH, MAX_NODES, _Budget, freeze
from tests.unit.test_entry_properties import json_values, spec_dicts, words

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frozen_variant(value):
    """The same JSON content as read-only mappings and tuples (what a frozen spec holds)."""
    if isinstance(value, dict):
        return MappingProxyType({key: frozen_variant(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(frozen_variant(item) for item in value)
    return value


@SETTINGS
@given(json_values)
def test_canonical_text_is_the_json_encoders_output(value):
    expected = _ENCODER.encode(value)
    assert canonical_text(value) == expected
    assert canonical_json(frozen_variant(value)) == expected.encode("utf-8")


@pytest.mark.parametrize("value, error", [
    (float("nan"), ValueError), (float("inf"), ValueError), ({1: "a", "b": 2}, TypeError), (object(), TypeError),
])
def test_canonical_text_refuses_what_the_encoder_refuses(value, error):
    with pytest.raises(error):
        _ENCODER.encode(value)
    with pytest.raises(error):
        canonical_text(value)


def test_a_circular_value_is_refused_not_recursed():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        canonical_text(loop)


@SETTINGS
@given(st.dictionaries(words, json_values, max_size=6))
def test_encode_object_joins_encoded_values_into_the_objects_text(data):
    assert encode_object({key: canonical_text(value) for key, value in data.items()}) == canonical_text(data)
    encoded = Encoded.of(data)
    assert encoded == data and encoded.text == canonical_text(data)
    # An Encoded value lends its text to the object holding it.
    outer = Encoded.of({"inner": encoded, "n": 1})
    assert outer.text == canonical_text({"inner": dict(data), "n": 1})
    assert canonical_json(outer) == outer.text.encode("utf-8")


@SETTINGS
@given(spec_dicts)
def test_spec_and_entry_texts_are_their_canonical_json(data):
    spec = EntrySpec.from_dict(data)
    plain = spec.to_dict()
    assert spec.canonical_text().encode("utf-8") == canonical_json(plain)
    assert spec.digest == hashlib.sha256(canonical_json(plain)).hexdigest()
    assert spec.field_texts() == {key: canonical_text(value) for key, value in plain.items()}
    entry = Entry(spec=spec, version="1.2.3", author="alice", created_at="2026-06-10T14:02:00.000001Z", seq=7,
                  bump="minor", bump_reason="minor: prompt_ref changed", previous="1.1.0")
    encoded = entry.encoded()
    assert encoded.text.encode("utf-8") == canonical_json(entry.to_dict())
    assert json.loads(encoded.text) == entry.to_dict()


def reference_diff(old: EntrySpec, new: EntrySpec) -> list[tuple]:
    """The whole-tree walk diff_specs did before it compared per-field texts."""
    old_dict, new_dict = semver._keyed(old.to_dict()), semver._keyed(new.to_dict())
    found: list = []
    semver._walk(old_dict, new_dict, (), found)
    return [(semver._show_path(parts), before, after, semver.classify(parts, old_dict, new_dict))
            for parts, before, after in found]


@st.composite
def spec_pairs(draw):
    """Two specs that share a random subset of their fields (a realistic next version)."""
    old, other = draw(spec_dicts), draw(spec_dicts)
    new = {}
    for key in sorted(old.keys() | other.keys()):
        source = old if draw(st.booleans()) else other
        if key in source:
            new[key] = source[key]
    new.setdefault("name", old["name"])
    new.setdefault("model", old["model"])
    return EntrySpec.from_dict(old), EntrySpec.from_dict(new)


@SETTINGS
@given(spec_pairs())
def test_diff_by_field_texts_equals_the_whole_tree_walk(pair):
    old, new = pair
    diff = semver.diff_specs(old, new)
    assert [(c.path, c.old, c.new, c.level) for c in diff.changes] == reference_diff(old, new)
    if old.digest == new.digest:
        assert diff.identical


def test_diff_sees_a_type_change_inside_an_otherwise_equal_field():
    base = {"name": "x", "model": "gpt-4o-2024-08-06", "params": {"temperature": 1, "max_tokens": 300}}
    old = EntrySpec.from_dict(base)
    new = EntrySpec.from_dict(dict(base, params={"temperature": 1.0, "max_tokens": 300}))
    assert [c.path for c in semver.diff_specs(old, new).changes] == ["params.temperature"]


# ---------------------------------------------------------------------------- freeze

dates = st.one_of(st.dates(), st.datetimes(timezones=st.just(dt.timezone.utc)), st.datetimes())
values_with_dates = st.recursive(st.one_of(json_values, dates),
                                 lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(words, inner, max_size=3)),
                                 max_leaves=10)


@SETTINGS
@given(values_with_dates)
def test_fast_freeze_equals_the_checked_walk(value):
    checked = freeze(value, "f", _Budget())  # a budget given: the checked, path-naming walk
    assert freeze(value, "f") == checked
    assert canonical_text(freeze(value, "f")) == canonical_text(checked)


def nested(depth: int):
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value, message", [
    ({"a": [1, float("nan")]}, "f.a[1]: nan is not a finite number"),
    ({"a": {3: "x"}}, "f.a.3: key 3 is not a string"),
    ({"a": {"b": object()}}, "f.a.b: object <object object"),
    (nested(MAX_DEPTH + 1), f"is nested deeper than {MAX_DEPTH} levels"),
    (nested(MAX_DEPTH), None),
    (["x"] * MAX_NODES, f"has more than {MAX_NODES} values"),
    (["x"] * (MAX_NODES - 1), None),
])
def test_freeze_errors_name_the_value_and_limits_hold(value, message):
    if message is None:
        assert freeze(value, "f") == freeze(value, "f", _Budget())
        return
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        freeze(value, "f")
