"""The release tuple: parsing the seed layout, full forms, refusals and immutability."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json

import pytest

from llmreg.registry.canonical import canonical_json
from llmreg.registry.entry import (
    ArtifactRef,
    Entry,
    EntrySpec,
    EvalRef,
    ModelRef,
    load_entry_file,
    parse_entry,
    utc_timestamp,
)
from llmreg.registry.errors import BadInput

from .builders import (
    COMMIT,
    FULL_SPEC,
    SEED_001,
    SEED_001_FULL,
    SHA_A,
    make_entry,
    make_spec,
    spec_dict,
)

SEED_CANONICAL = (
    b'{"eval":{"run":"2026-06-10","score":0.94,"suite":"triage-eval-v4"},'
    b'"model":{"id":"gpt-5-mini-2026-xx","provider":"openai","snapshot":"gpt-5-mini-2026-xx"},'
    b'"name":"support-triage","params":{"max_tokens":300},"prompt_ref":"triage-prompt@v9","tools_ref":"triage-tools@v3"}'
)
SEED_DIGEST = "758c7050763a9dce285766235339d310007989e00df598622e993d699fc02a72"


def refused(data, **kwargs) -> BadInput:
    with pytest.raises(BadInput) as info:
        parse_entry(data, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return info.value


# ---------------------------------------------------------------- the seed layout


def test_seed_001_parses_exactly_as_written():
    spec, assigned = parse_entry(SEED_001, source="support-triage.yaml")
    assert assigned == {}
    assert spec.name == "support-triage"
    assert spec.model == ModelRef(provider="openai", id="gpt-5-mini-2026-xx", snapshot="gpt-5-mini-2026-xx")
    assert spec.prompt_ref == "triage-prompt@v9"
    assert dict(spec.params) == {"max_tokens": 300}
    assert spec.tools_ref == "triage-tools@v3"
    assert spec.eval == EvalRef(suite="triage-eval-v4", score=0.94, run="2026-06-10")
    assert spec.eval.run == "2026-06-10"  # the YAML date stays the ISO text, not a date object


def test_seed_001_canonical_bytes_and_digest_are_stable():
    """Stored hashes depend on these bytes: a change here breaks every recorded digest."""
    spec, _ = parse_entry(SEED_001)
    assert canonical_json(spec.to_dict()) == SEED_CANONICAL
    assert spec.digest == SEED_DIGEST


def test_seed_001_with_registry_fields_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "support-triage.yaml"
    path.write_text(SEED_001_FULL, encoding="utf-8")
    with pytest.raises(BadInput) as info:
        load_entry_file(path)
    assert info.value.field == "version"
    assert str(info.value) == (
        f"field 'version' is assigned by the registry; remove it from {path} "
        "(or use --import-history to import an existing history, which is audited)"
    )


@pytest.mark.parametrize("line", ["version: 3", "status: staging", "approved_by: zyql"])
def test_each_registry_assigned_field_is_refused(line):
    err = refused(SEED_001 + line + "\n", source="support-triage.yaml")
    assert err.field == line.split(":")[0]
    assert "assigned by the registry; remove it from support-triage.yaml" in str(err)


def test_seed_001_with_registry_fields_is_accepted_under_import_history(tmp_path):
    path = tmp_path / "support-triage.yaml"
    path.write_text(SEED_001_FULL, encoding="utf-8")
    spec, assigned = load_entry_file(path, import_history=True)
    assert assigned == {"version": "14.0.0", "status": "production", "approved_by": ("zyql",)}
    assert spec.digest == SEED_DIGEST  # the registry fields are not part of the tuple


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("status: draft\n", {"status": "development"}),
        ("status: retired\n", {"status": "retired"}),
        ("version: '1.2'\n", {"version": "1.2.0"}),
        ("version: v2.3.4\n", {"version": "2.3.4"}),
        ("approved_by: [zyql, 'system:bot']\n", {"approved_by": ("zyql", "system:bot")}),
    ],
)
def test_import_history_normalises_registry_fields(extra, expected):
    _, assigned = parse_entry(SEED_001 + extra, import_history=True)
    assert assigned == expected


@pytest.mark.parametrize(
    ("extra", "field"),
    [("status: shipped\n", "status"), ("version: one\n", "version"), ("approved_by: 'bad name'\n", "approved_by[0]"), ("approved_by: []\n", "approved_by")],
)
def test_import_history_still_validates_registry_fields(extra, field):
    err = refused(SEED_001 + extra, import_history=True, source="e.yaml")
    assert err.field == field
    assert str(err).startswith("e.yaml: ")


# ---------------------------------------------------------------- full form, files, immutability


def test_full_spec_round_trips_and_serialises():
    spec = make_spec()
    data = spec.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert EntrySpec.from_dict(data) == spec
    assert EntrySpec.from_dict(json.loads(canonical_json(data))).digest == spec.digest
    assert [a.name for a in spec.artifacts] == ["adapter", "tokenizer/tokenizer.json"]
    assert EntrySpec(name="x", model="gpt-4-0613", labels=None).labels == {}
    assert spec.retrieval["faq"]["sha256"] == "c" * 64
    assert spec.gates["canary_slo"]["min_calls"] == 200


def test_to_dict_omits_none_and_empty():
    spec = EntrySpec(name="x", model="gpt-4o-2024-08-06", params={}, labels={})
    assert spec.to_dict() == {"name": "x", "model": {"provider": "openai", "id": "gpt-4o-2024-08-06", "snapshot": "gpt-4o-2024-08-06"}}


def test_spec_is_deeply_immutable_and_detached_from_its_input():
    data = spec_dict()
    spec = EntrySpec.from_dict(data)
    digest = spec.digest
    data["params"]["max_tokens"] = 1
    data["training"]["lora"]["r"] = 99
    assert spec.params["max_tokens"] == 300 and spec.training["lora"]["r"] == 8
    with pytest.raises(TypeError):
        spec.params["max_tokens"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.training["lora"]["r"] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert isinstance(spec.params["stop"], tuple)
    assert spec.digest == digest


def test_spec_hash_follows_digest():
    a, b = make_spec(), make_spec()
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    c = make_spec(params={"max_tokens": 301})
    assert c != a and c.digest != a.digest


def test_python_construction_validates_like_parsing():
    with pytest.raises(BadInput) as info:
        EntrySpec(name="x", model="gpt-5-mini-latest")
    assert info.value.field == "model"
    with pytest.raises(BadInput) as info:
        EntrySpec(name="x", model="gpt-4-0613", artifacts=[{"name": "../a", "uri": "a", "sha256": SHA_A, "size": 1}])
    assert info.value.field == "artifacts[0].name"


def test_python_dates_become_iso_strings():
    spec = EntrySpec(
        name="x",
        model="gpt-4-0613",
        eval={"suite": "s", "score": 0.5, "run": dt.date(2026, 6, 10), "time": dt.datetime(2026, 6, 10, 16, 2, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
        card={"reviewed": dt.date(2026, 1, 2)},
    )
    assert spec.eval.run == "2026-06-10"
    assert spec.eval.time == "2026-06-10T14:02:00Z"
    assert spec.card["reviewed"] == "2026-01-02"


def test_json_file_and_yaml_file_give_the_same_spec(tmp_path):
    yaml_path = tmp_path / "e.yaml"
    yaml_path.write_text(SEED_001, encoding="utf-8")
    json_path = tmp_path / "e.json"
    json_path.write_text(json.dumps(parse_entry(SEED_001)[0].to_dict(), indent=2), encoding="utf-8")
    assert load_entry_file(yaml_path)[0] == load_entry_file(json_path)[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{\n  "name": "x",\n  "model": }', "e.json: line 3, column 12: malformed JSON"),
        ('{"name": "x", "name": "y"}', "key 'name' appears twice"),
    ],
)
def test_bad_json_files(tmp_path, text, fragment):
    path = tmp_path / "e.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput) as info:
        load_entry_file(path)
    assert fragment.replace("e.json", str(path)) in str(info.value)


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(BadInput, match="cannot read the entry file") as info:
        load_entry_file(tmp_path / "missing.yaml")
    assert info.value.field == "path"
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(BadInput, match="not UTF-8"):
        load_entry_file(path)


def test_yaml_alias_bomb_is_refused_quickly():
    lines = ["name: x", "model: gpt-4-0613", "params:", "  a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for level in range(1, 7):
        lines.append(f"  a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    err = refused("\n".join(lines) + "\n")
    assert err.field.startswith("params") and "alias bomb" in str(err)


# ---------------------------------------------------------------- every bad-input class

BASE = "name: x\nmodel: gpt-4-0613\n"
ART = "artifacts: [{name: %s, uri: %s, sha256: '" + SHA_A + "', size: %s}]\n"


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        # malformed YAML, with its line
        ("name: x\nmodel: gpt-4-0613\nparams: {max_tokens: 3\n", "yaml", "line 4, column 1: malformed YAML"),
        ("name: x\n  model: y: z\n", "yaml", "line 2, column 8: malformed YAML"),
        ("name: x\nmodel: gpt-4-0613\nname: y\n", "name", "line 3: key 'name' appears twice"),
        # not a mapping / empty
        ("- name: x\n", "entry", "expected a mapping of entry fields"),
        ("", "entry", "the entry is empty"),
        ("# only a comment\n", "entry", "the entry is empty"),
        # unknown fields, with the closest known name
        (BASE + "promt_ref: a@v1\n", "promt_ref", "unknown field 'promt_ref'; did you mean 'prompt_ref'?"),
        (BASE + "zzz: 1\n", "zzz", "unknown field 'zzz'; known fields:"),
        ("name: x\nmodel: {provider: openai, id: gpt-4-0613, snapshop: gpt-4-0613}\n", "model.snapshop", "did you mean 'snapshot'?"),
        (BASE + "eval: {suite: s, score: 0.5, run: r, segment: {}}\n", "eval.segment", "did you mean 'segments'?"),
        (BASE + "artifacts: [{name: a, uri: a, sha256: '" + SHA_A + "', size: 1, knd: adapter}]\n", "artifacts[0].knd", "did you mean 'kind'?"),
        (BASE + "gates: {canary_slo: {max_p99: 3}}\n", "gates.canary_slo.max_p99", "did you mean 'max_p99_ms'?"),
        # missing required
        ("name: x\n", "model", "missing required field 'model'"),
        (BASE + "eval: {suite: s, score: 0.5}\n", "eval.run", "missing required field 'run'"),
        # wrong types
        ("name: 7\nmodel: gpt-4-0613\n", "name", "expected a string, got integer 7; quote it"),
        (BASE + "params: [1, 2]\n", "params", "expected a mapping"),
        (BASE + "artifacts: {name: a}\n", "artifacts", "expected a list"),
        (BASE + "eval: {suite: s, score: high, run: r}\n", "eval.score", "expected a number, got string 'high'"),
        (BASE + "eval: {suite: s, score: true, run: r}\n", "eval.score", "expected a number, got boolean"),
        (BASE + ART % ("a", "a", "'12'"), "artifacts[0].size", "expected an integer, got string '12'"),
        (BASE + "labels: {enabled: yes}\n", "labels.enabled", "expected a string, got boolean True; quote it"),
        (BASE + "description: [a, b]\n", "description", "expected a string, got list"),
        (BASE + "labels: [a]\n", "labels", "expected a mapping"),
        (BASE + "eval: {suite: s, suite_version: 1.10, score: 0.5, run: r}\n", "eval.suite_version", "got number 1.1; quote it"),
        (BASE + "params: {1: a}\n", "params.1", "key 1 is not a string; quote it"),
        ("name: x\nmodel: 42\n", "model", "expected a model id string or a mapping"),
        # bad name
        ("name: Support Triage\nmodel: gpt-4-0613\n", "name", "must match ^[a-z0-9][a-z0-9._-]{0,99}$"),
        ("name: -x\nmodel: gpt-4-0613\n", "name", "must match"),
        ("name: " + "a" * 101 + "\nmodel: gpt-4-0613\n", "name", "characters long; the limit is 100"),
        # sha256
        (BASE + "prompt_sha256: abc\n", "prompt_sha256", "is not a SHA-256 digest (64 hex digits)"),
        (BASE + "prompt_sha256: '" + "g" * 64 + "'\n", "prompt_sha256", "not a SHA-256"),
        ("name: x\nmodel: {provider: local, id: m, sha256: 1234}\n", "model.sha256", "expected a string"),
        (BASE + "artifacts: [{name: a, uri: a, sha256: '" + "a" * 63 + "', size: 1}]\n", "artifacts[0].sha256", "not a SHA-256"),
        # size
        (BASE + ART % ("a", "a", "-1"), "artifacts[0].size", "-1 is below the minimum 0"),
        # path traversal in artifact names and uris
        (BASE + ART % ("../x", "a", "1"), "artifacts[0].name", "'..' path segment (path traversal)"),
        (BASE + ART % ("a/../../b", "a", "1"), "artifacts[0].name", "path traversal"),
        (BASE + ART % ("/etc/passwd", "a", "1"), "artifacts[0].name", "is an absolute path"),
        (BASE + ART % ("'~/x'", "a", "1"), "artifacts[0].name", "is an absolute path"),
        (BASE + ART % ("'a\\\\b'", "a", "1"), "artifacts[0].name", "backslash"),
        (BASE + ART % ('"a\\0b"', "a", "1"), "artifacts[0].name", "control characters"),
        (BASE + ART % ("a", "../../etc/passwd", "1"), "artifacts[0].uri", "path traversal"),
        (BASE + ART % ("a", "s3://bucket/a/../b", "1"), "artifacts[0].uri", "path traversal"),
        (BASE + ART % ("a", "a/%2e%2e/b", "1"), "artifacts[0].uri", "path traversal"),
        (BASE + ART % ("a", "'a%00b'", "1"), "artifacts[0].uri", "encodes NUL"),
        (BASE + ART % ("a", '"a\\0b"', "1"), "artifacts[0].uri", "control characters"),
        ("name: x\nmodel: {provider: local, id: m, uri: ../m.bin, sha256: '" + SHA_A + "'}\n", "model.uri", "path traversal"),
        (BASE + "retrieval: {kb: {sha256: '" + SHA_A + "', uri: ../kb}}\n", "retrieval.kb.uri", "path traversal"),
        (BASE + "artifacts: [{name: a, uri: a, sha256: '" + SHA_A + "', size: 1}, {name: a, uri: b, sha256: '" + SHA_A + "', size: 2}]\n",
         "artifacts[1].name", "already used by artifacts[0]"),
        (BASE + "artifacts: [{name: a, uri: a, sha256: '" + SHA_A + "', size: 1, kind: model}]\n", "artifacts[0].kind", "not an artifact kind"),
        # scores: range, NaN, inf
        (BASE + "eval: {suite: s, score: 1.2, run: r}\n", "eval.score", "1.2 is outside [0, 1]"),
        (BASE + "eval: {suite: s, score: -0.1, run: r}\n", "eval.score", "outside [0, 1]"),
        (BASE + "eval: {suite: s, score: .nan, run: r}\n", "eval.score", "nan is not a finite number"),
        (BASE + "eval: {suite: s, score: 0.5, run: r, segments: {en: .nan}}\n", "eval.segments.en", "not a finite number"),
        (BASE + "eval: {suite: s, score: 0.5, run: r, metrics: {ms: .inf}}\n", "eval.metrics.ms", "not a finite number"),
        (BASE + "params: {temperature: .nan}\n", "params.temperature", "JSON has no NaN/inf"),
        (BASE + "training: {lr: [.inf]}\n", "training.lr[0]", "JSON has no NaN/inf"),
        # gates
        (BASE + "gates: {required_production_approvals: 1}\n", "gates.required_production_approvals", "is registry policy"),
        (BASE + "gates: {fairness_max_gap: 2}\n", "gates.fairness_max_gap", "outside [0, 1]"),
        (BASE + "gates: {canary_slo: {min_calls: 0}}\n", "gates.canary_slo.min_calls", "below the minimum 1"),
        # datasets and retrieval must be immutable ids
        (BASE + "datasets: {train: main}\n", "datasets.train", "moving name"),
        (BASE + "retrieval: {kb: {uri: s3://b/kb}}\n", "retrieval.kb", "is not pinned"),
        (BASE + "retrieval: {kb: 7}\n", "retrieval.kb", "expected 'name@version' or a mapping"),
        # entry-level string hygiene
        (BASE + "owner: '  '\n", "owner", "is empty"),
        (BASE + "owner: \"a\\nb\"\n", "owner", "control characters"),
    ],
)
def test_bad_input_is_one_clear_line(text, field, fragment):
    err = refused(text, source="e.yaml")
    assert err.field == field, str(err)
    assert fragment in str(err)
    assert str(err).startswith("e.yaml: ")


def test_errors_without_a_source_have_no_prefix():
    err = refused({"name": "x", "model": "gpt-4-0613", "prompt_sha256": "abc"})
    assert str(err).startswith("prompt_sha256: ")


# ---------------------------------------------------------------- floating aliases


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-2024-08-06", ModelRef("openai", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06")),
        ("gpt-5-mini-2026-xx", ModelRef("openai", "gpt-5-mini-2026-xx", "gpt-5-mini-2026-xx")),
        ("gpt-4-0613", ModelRef("openai", "gpt-4-0613", "gpt-4-0613")),
        ("o3-mini-2025-01-31", ModelRef("openai", "o3-mini-2025-01-31", "o3-mini-2025-01-31")),
        ("claude-3-5-sonnet-20241022", ModelRef("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022")),
        ("gemini-1.5-pro-002", ModelRef("google", "gemini-1.5-pro-002", "gemini-1.5-pro-002")),
        ("mistral-large-2411", ModelRef("mistral", "mistral-large-2411", "mistral-large-2411")),
        ("vertex:claude-3-opus@20240229", ModelRef("vertex", "claude-3-opus@20240229", "claude-3-opus@20240229")),
        (f"acme/tiny-llama@{COMMIT}", ModelRef("hf", "acme/tiny-llama", revision=COMMIT)),
        (f"hf:acme/tiny-llama@{COMMIT}", ModelRef("hf", "acme/tiny-llama", revision=COMMIT)),
        (f"hf:acme/tiny-llama@{COMMIT.upper()}", ModelRef("hf", "acme/tiny-llama", revision=COMMIT)),
        ({"provider": "openai", "id": "gpt-5-mini", "snapshot": "gpt-5-mini-2026-06-01"}, ModelRef("openai", "gpt-5-mini", "gpt-5-mini-2026-06-01")),
        ({"provider": "vllm", "id": "tiny", "sha256": SHA_A}, ModelRef("vllm", "tiny", sha256=SHA_A)),
        ({"provider": "local", "id": "tiny", "uri": "/models/tiny", "sha256": SHA_A.upper()}, ModelRef("local", "tiny", uri="/models/tiny", sha256=SHA_A)),
    ],
)
def test_pinned_models_are_accepted(model, expected):
    spec, _ = parse_entry({"name": "x", "model": model})
    assert spec.model == expected


@pytest.mark.parametrize(
    ("model", "field", "fragment"),
    [
        ("gpt-5-mini-latest", "model", "'gpt-5-mini-latest' is a floating alias; pin a dated snapshot such as 'gpt-5-mini-YYYY-MM-DD'"),
        ("chatgpt-4o-latest", "model", "is a floating alias"),
        ("ollama:llama3:latest", "model", "is a floating alias"),
        ("openai:latest", "model", "is a floating alias"),
        ("gpt-5-mini", "model", "'gpt-5-mini' is not a pinned snapshot (no date or version in the id)"),
        ("claude-sonnet-4-5", "model", "is not a pinned snapshot"),
        ("gemini-2.0-flash", "model", "is not a pinned snapshot"),
        ("mystery-model-2026-01-01", "model", "cannot tell the provider of 'mystery-model-2026-01-01'; write 'provider:mystery-model-2026-01-01'"),
        ({"provider": "openai", "id": "gpt-5-mini"}, "model.id", "is not a pinned snapshot"),
        ({"provider": "openai", "id": "gpt-5-mini", "snapshot": "gpt-5-mini"}, "model.id", "is not a pinned snapshot"),
        ({"provider": "openai", "id": "gpt-5-mini", "snapshot": "latest"}, "model.snapshot", "floating alias"),
        ({"provider": "openai", "id": "gpt-5-mini-latest"}, "model.id", "floating alias"),
        ("acme/tiny-llama", "model.revision", "missing for hf model 'acme/tiny-llama'; pin the 40-hex commit sha"),
        ("acme/tiny-llama@main", "model.revision", "'main' is a branch or alias, which moves"),
        ({"provider": "hf", "id": "acme/tiny-llama"}, "model.revision", "missing for hf model"),
        ({"provider": "hf", "id": "acme/tiny-llama", "revision": "main"}, "model.revision", "is a branch or alias"),
        ({"provider": "hf", "id": "acme/tiny-llama", "revision": "master"}, "model.revision", "is a branch or alias"),
        ({"provider": "hf", "id": "acme/tiny-llama", "revision": "0123abc"}, "model.revision", "is a short sha; give the full 40-hex commit sha"),
        ({"provider": "hf", "id": "acme/tiny-llama", "revision": "v1.0"}, "model.revision", "is not a commit sha"),
        ({"provider": "vllm", "id": "tiny", "revision": "head"}, "model.revision", "is a branch or alias"),
        ({"provider": "local", "id": "tiny"}, "model.sha256", "a local model is pinned by its checksum"),
        ({"provider": "OpenAI", "id": "gpt-4-0613"}, "model.provider", "must be lowercase"),
    ],
)
def test_floating_or_unpinned_models_are_refused(model, field, fragment):
    err = refused({"name": "x", "model": model}, source="e.yaml")
    assert err.field == field, str(err)
    assert fragment in str(err)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("prompt_ref", "triage-prompt@latest", "'triage-prompt@latest' is a floating alias; pin a fixed version such as 'triage-prompt@v1'"),
        ("prompt_ref", "triage-prompt@main", "floating alias"),
        ("prompt_ref", "triage-prompt@HEAD", "floating alias"),
        ("prompt_ref", "triage-prompt", "is not a pinned reference; write it as 'name@version'"),
        ("tools_ref", "triage-tools@latest", "floating alias"),
        ("policy_ref", "safety@head", "floating alias"),
        ("policy_ref", "safety@", "is not a pinned reference"),
        ("retrieval", {"kb": "kb-index@latest"}, "floating alias"),
        ("retrieval", {"kb": {"ref": "kb-index@main"}}, "floating alias"),
    ],
)
def test_floating_refs_are_refused(key, value, fragment):
    err = refused({"name": "x", "model": "gpt-4-0613", key: value})
    assert err.field.startswith(key)
    assert fragment in str(err)


def test_request_id_is_the_snapshot_when_pinned_separately():
    assert ModelRef("openai", "gpt-5-mini", "gpt-5-mini-2026-06-01").request_id == "gpt-5-mini-2026-06-01"
    assert ModelRef("hf", "acme/tiny", revision=COMMIT).request_id == "acme/tiny"


# ---------------------------------------------------------------- artifacts, eval, entry


def test_artifact_and_eval_refs_round_trip():
    artifact = ArtifactRef(name="adapter/model.safetensors", uri="s3://b/k", sha256=SHA_A.upper(), size=3, kind="adapter")
    assert artifact.sha256 == SHA_A
    assert ArtifactRef.from_dict(artifact.to_dict()) == artifact
    assert ArtifactRef(name="a", uri="a", sha256=SHA_A, size=0).kind == "other"
    ev = EvalRef(suite="s", score=1, run="r", segments={"en": 0.9, "es": 0.8})
    assert ev.score == 1.0 and isinstance(ev.score, float)
    assert EvalRef.from_dict(ev.to_dict()) == ev and hash(EvalRef.from_dict(ev.to_dict())) == hash(ev)
    assert ev.segment_gap == pytest.approx(0.1)
    assert EvalRef(suite="s", score=0.5, run="r").segment_gap is None


def test_entry_round_trip_and_ref():
    entry = make_entry(version="1.2.0")
    assert entry.ref == "support-triage@1.2.0" and entry.name == "support-triage"
    data = entry.to_dict()
    assert "previous" not in data
    assert Entry.from_dict(json.loads(json.dumps(data))) == entry
    later = dataclasses.replace(entry, version="1.3.0", previous="1.2.0", bump="minor", bump_reason="minor: prompt_ref changed")
    assert Entry.from_dict(later.to_dict()) == later
    assert later != entry and later.to_dict()["previous"] == "1.2.0"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "1.2"}, "version"),
        ({"version": 3}, "version"),
        ({"author": "bad name"}, "author"),
        ({"created_at": "2026-06-10 14:02:00"}, "created_at"),
        ({"created_at": "2026-06-10T14:02:00+00:00"}, "created_at"),
        ({"created_at": "2026-13-40T14:02:00Z"}, "created_at"),
        ({"seq": -1}, "seq"),
        ({"bump": "huge"}, "bump"),
        ({"previous": "one"}, "previous"),
    ],
)
def test_entry_fields_are_validated(change, field):
    data = make_entry().to_dict()
    data.update(change)
    with pytest.raises(BadInput) as info:
        Entry.from_dict(data)
    assert info.value.field == field


def test_entry_spec_errors_are_prefixed():
    data = make_entry().to_dict()
    data["spec"]["params"] = [1]
    with pytest.raises(BadInput) as info:
        Entry.from_dict(data)
    assert info.value.field == "spec.params"


def test_utc_timestamp_format():
    moment = dt.datetime(2026, 6, 10, 16, 2, 3, 500, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc_timestamp(moment) == "2026-06-10T14:02:03.000500Z"
    assert utc_timestamp().endswith("Z")
    with pytest.raises(ValueError):
        utc_timestamp(dt.datetime(2026, 1, 1))


def test_from_dict_refuses_registry_fields_and_unknown_top_level():
    data = copy.deepcopy(FULL_SPEC)
    data["version"] = "1.0.0"
    with pytest.raises(BadInput, match="assigned by the registry") as info:
        EntrySpec.from_dict(data)
    assert info.value.field == "version"
