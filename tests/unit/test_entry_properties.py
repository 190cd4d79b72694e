"""Property tests: from_dict(to_dict(x)) == x and the digest depends only on content."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmreg.registry.canonical import canonical_json
from llmreg.registry.entry import EntrySpec

HEX = "0123456789abcdef"
sha256s = st.text(HEX, min_size=64, max_size=64)
names = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")
keys = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,10}\Z")
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=12)
refs = st.builds(lambda n, v: f"{n}@{v}", names, st.from_regex(r"\Av[0-9]{1,3}\Z"))
unit = st.floats(0.0, 1.0, allow_nan=False)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False), words)
json_values = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(words, inner, max_size=3)), max_leaves=12)
json_maps = st.dictionaries(words, json_values, max_size=4)

models = st.one_of(
    st.builds(lambda d: f"gpt-4o-{d}", st.from_regex(r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9]\Z")),
    st.builds(lambda sha: {"provider": "hf", "id": "acme/tiny", "revision": sha[:40]}, sha256s),
    st.builds(lambda sha, arch: {"provider": "local", "id": "tiny", "sha256": sha, "uri": "/models/tiny", "architecture": arch}, sha256s, words),
    st.builds(lambda snap: {"provider": "openai", "id": "gpt-5-mini", "snapshot": f"gpt-5-mini-{snap}"}, st.from_regex(r"\A20[0-9]{2}-[01][0-9]\Z")),
)
artifact_lists = st.lists(
    st.fixed_dictionaries(
        {"name": names, "uri": st.builds(lambda k: f"s3://bucket/{k}", names), "sha256": sha256s, "size": st.integers(0, 2**40)},
        optional={"kind": st.sampled_from(["adapter", "weights", "index", "other"])},
    ),
    max_size=3,
    unique_by=lambda artifact: artifact["name"],
)
evals = st.fixed_dictionaries(
    {"suite": names, "score": unit, "run": names},
    optional={
        "suite_version": names,
        "segments": st.dictionaries(keys, unit, max_size=4),
        "threshold": unit,
        "metrics": st.dictionaries(keys, st.floats(allow_nan=False, allow_infinity=False), max_size=3),
        "time": st.just("2026-06-10T14:02:00Z"),
    },
)
spec_dicts = st.fixed_dictionaries(
    {"name": names, "model": models},
    optional={
        "prompt_ref": refs,
        "prompt_sha256": sha256s,
        "params": json_maps,
        "tools_ref": refs,
        "retrieval": st.dictionaries(keys, st.one_of(refs, st.fixed_dictionaries({"sha256": sha256s}, optional={"ref": refs})), max_size=2),
        "policy_ref": refs,
        "artifacts": artifact_lists,
        "datasets": st.dictionaries(keys, st.builds(lambda h: f"md5:{h[:32]}", sha256s), max_size=3),
        "training": json_maps,
        "eval": evals,
        "owner": names,
        "framework": names,
        "description": words,
        "card": json_maps,
        "lineage": json_maps,
        "gates": st.fixed_dictionaries({}, optional={"eval_threshold": unit, "fairness_max_gap": unit}),
        "labels": st.dictionaries(keys, words, max_size=3),
    },
)


def reversed_order(value: Any) -> Any:
    """The same content with every mapping's key order reversed."""
    if isinstance(value, dict):
        return {key: reversed_order(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_order(item) for item in value]
    return value


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_dicts)
def test_from_dict_is_the_inverse_of_to_dict(data):
    spec = EntrySpec.from_dict(data)
    again = EntrySpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.to_dict() == spec.to_dict()
    assert again.digest == spec.digest


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_dicts)
def test_digest_depends_on_content_only(data):
    spec = EntrySpec.from_dict(data)
    assert EntrySpec.from_dict(reversed_order(data)).digest == spec.digest
    through_json = EntrySpec.from_dict(json.loads(canonical_json(spec.to_dict())))
    assert through_json.digest == spec.digest
    assert canonical_json(through_json.to_dict()) == canonical_json(spec.to_dict())
