"""The rest of the release tuple (release_parts.py): parsing, bump levels, card, lineage."""
from __future__ import annotations

import pytest

from llmreg.registry.card import render_card
from llmreg.registry.entry import Entry
from llmreg.registry.errors import BadInput
from llmreg.registry.lineage import build_lineage
from llmreg.registry.semver import diff_specs
from llmreg.registry.spec import EntrySpec

SHA_A, SHA_B = "a" * 64, "b" * 64
BASE = {
    "name": "triage", "model": "gpt-5-mini-2026-06-01",
    "runtime": {"quantization": "awq", "dtype": "bfloat16", "hardware": "nvidia-h100-80gb", "max_model_len": 8192,
                "tensor_parallel_size": 2, "batch": {"max_num_seqs": 64}},
    "dependencies": {"lock": "uv.lock", "sha256": SHA_A, "summary": {"vllm": "0.11.0", "transformers": "4.57.1"}},
    "tokenizer": {"uri": "/models/tok", "sha256": SHA_A, "ref": "triage-tok@v2"},
    "decoding": {"strategy": "beam_search", "num_beams": 4},
}


def spec(**sections) -> EntrySpec:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BASE.items()}
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        elif isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return EntrySpec.from_dict({k: v for k, v in data.items() if v is not None})


@pytest.mark.parametrize("change, bump, path", [
    ({"runtime": {"quantization": "gptq"}}, "minor", "runtime.quantization"),
    ({"runtime": {"dtype": "float16"}}, "minor", "runtime.dtype"),
    ({"runtime": {"hardware": "nvidia-h200"}}, "patch", "runtime.hardware"),
    ({"runtime": {"batch": {"max_num_seqs": 128}}}, "patch", "runtime.batch.max_num_seqs"),
    ({"runtime": {"tensor_parallel_size": 4}}, "patch", "runtime.tensor_parallel_size"),
    ({"runtime": {"max_model_len": 4096}}, "patch", "runtime.max_model_len"),
    ({"dependencies": {"sha256": SHA_B, "summary": {"vllm": "0.11.1", "transformers": "4.57.1"}}}, "patch",
     "dependencies.sha256"),
    ({"tokenizer": {"sha256": SHA_B}}, "minor", "tokenizer.sha256"),
    ({"tokenizer": {"uri": "/elsewhere/tok"}}, "patch", "tokenizer.uri"),  # same bytes, moved
    ({"decoding": {"strategy": "greedy", "num_beams": None}}, "minor", "decoding.strategy"),
    ({"decoding": {"num_beams": 8}}, "patch", "decoding.num_beams"),
    ({"runtime": None}, "minor", "runtime"),  # dropping quantization and dtype changes behaviour
    ({"runtime": {"quantization": None, "dtype": None}}, "minor", "runtime.quantization"),
    ({"dependencies": None}, "patch", "dependencies"),
])
def test_bump_levels(change, bump, path):
    new_data = spec().to_dict()
    for key, value in change.items():
        if value is None:
            new_data.pop(key)
        else:
            new_data[key] = {k: v for k, v in {**new_data[key], **value}.items() if v is not None}
    diff = diff_specs(spec(), EntrySpec.from_dict(new_data))
    assert diff.bump == bump, diff.to_dict()
    assert path in [c.path for c in diff.changes]


def test_adding_a_runtime_without_quantization_is_a_patch():
    old = spec(runtime=None)
    assert diff_specs(old, spec(runtime=None).__class__.from_dict(
        {**old.to_dict(), "runtime": {"hardware": "cpu"}})).bump == "patch"


def test_old_digests_do_not_change():
    plain = EntrySpec.from_dict({"name": "x", "model": "gpt-4-0613"})
    assert "runtime" not in plain.to_dict() and EntrySpec.from_dict(plain.to_dict()).digest == plain.digest
    assert EntrySpec.from_dict(spec().to_dict()) == spec()


@pytest.mark.parametrize("section, value, message", [
    ("runtime", {"dtype": "fp64"}, "runtime.dtype: 'fp64' is not a dtype"),
    ("runtime", {"batch": {"max_seqs": 4}}, "runtime.batch"),
    ("runtime", {"tensor_parallel_size": 0}, "runtime.tensor_parallel_size"),
    ("dependencies", {"lock": "uv.lock"}, "dependencies"),
    ("dependencies", {"sha256": SHA_A, "summary": {"vllm": "latest"}}, "dependencies.summary.vllm"),
    ("tokenizer", {"uri": "/tok"}, "tokenizer"),
    ("decoding", {"strategy": "nucleus"}, "decoding.strategy: 'nucleus' is not a strategy"),
    ("decoding", {"strategy": "greedy", "num_beams": 2}, "decoding.num_beams"),
    ("decoding", {"strategy": "speculative"}, "decoding.draft_model"),
])
def test_bad_input_names_the_field(section, value, message):
    with pytest.raises(BadInput, match=message.replace(".", r"\.").replace("(", r"\(")):
        EntrySpec.from_dict({"name": "x", "model": "gpt-4-0613", section: value})


def _entry() -> Entry:
    return Entry(spec(), "1.0.0", "alice", "2026-06-01T00:00:00Z", 1, "initial", "first version")


def test_card_shows_the_serving_configuration():
    card = render_card(_entry(), statuses={}, history=[])
    assert "## Serving configuration" in card
    assert "awq, bfloat16, tp 2, max len 8192, on nvidia-h100-80gb, batch max_num_seqs=64" in card
    assert "beam_search (num_beams=4)" in card and f"`{SHA_A}`" in card and "vllm 0.11.0" in card


def test_lineage_has_the_new_parts():
    graph = build_lineage(_entry())
    kinds = {node.kind: node for node in graph.nodes}
    assert {"tokenizer", "dependencies", "runtime"} <= set(kinds)
    assert kinds["runtime"].attrs["decoding"]["strategy"] == "beam_search"
    entry_id = next(n.id for n in graph.nodes if n.kind == "entry")
    assert {(e.src, e.label) for e in graph.edges if e.dst == entry_id} >= {
        (kinds["tokenizer"].id, "tokenizer"), (kinds["dependencies"].id, "runs with"), (kinds["runtime"].id, "served with")}
