"""Version bumps from the tuple diff, and next_version's refusals."""
from __future__ import annotations

import copy

import pytest

from llmreg.registry.errors import BadInput, Conflict
from llmreg.registry.semver import (
    FIELD_LEVELS,
    coerce_version,
    diff_specs,
    next_version,
    parse_version,
    refuse_identical,
    version_key,
)

from .builders import COMMIT, SHA_A, SHA_B, make_spec, spec_dict

OTHER_COMMIT = "f" * 40


def changed(**overrides):
    return diff_specs(make_spec(), make_spec(**overrides))


def with_model(**fields):
    model = copy.deepcopy(spec_dict()["model"])
    model.update(fields)
    return {key: value for key, value in model.items() if value is not None}


def with_artifact(index, **fields):
    artifacts = copy.deepcopy(spec_dict()["artifacts"])
    artifacts[index].update(fields)
    return artifacts


@pytest.mark.parametrize(
    ("overrides", "level", "path"),
    [
        # MAJOR: the model (any sub-field), framework, architecture
        ({"model": with_model(revision=OTHER_COMMIT)}, "major", "model.revision"),
        ({"model": with_model(id="acme/other-llama")}, "major", "model.id"),
        ({"model": with_model(sha256=SHA_B)}, "major", "model.sha256"),
        ({"model": with_model(architecture="MistralForCausalLM")}, "major", "model.architecture"),
        ({"framework": "vllm"}, "major", "framework"),
        ({"name": "support-triage-2"}, "major", "name"),
        # MINOR: prompt, data, retrieval, tools, policy, artifacts, training
        ({"prompt_ref": "triage-prompt@v10"}, "minor", "prompt_ref"),
        ({"prompt_sha256": SHA_A}, "minor", "prompt_sha256"),
        ({"datasets": {"train": "md5:9", "eval": "md5:1f343b0931126a20f133d67c2b018a3b"}}, "minor", "datasets.train"),
        ({"retrieval": {"kb": "kb-index@2026-07-01", "faq": spec_dict()["retrieval"]["faq"]}}, "minor", "retrieval.kb"),
        ({"retrieval": {"kb": "kb-index@2026-06-01", "faq": {"ref": "faq-index@v2", "sha256": SHA_B, "uri": "s3://bucket/faq.idx"}}}, "minor", "retrieval.faq.sha256"),
        ({"tools_ref": "triage-tools@v4"}, "minor", "tools_ref"),
        ({"policy_ref": "safety-policy@v5"}, "minor", "policy_ref"),
        ({"artifacts": with_artifact(0, sha256=SHA_A)}, "minor", "artifacts.adapter.sha256"),
        ({"artifacts": spec_dict()["artifacts"][:1]}, "minor", 'artifacts."tokenizer/tokenizer.json"'),
        ({"training": {"seed": 8, "lora": {"r": 8, "alpha": 16}, "epochs": 3}}, "minor", "training.seed"),
        ({"training": {"seed": 7, "lora": {"r": 16, "alpha": 16}, "epochs": 3}}, "minor", "training.lora.r"),
        # PATCH: params, gates, eval, card, owner, description, lineage, labels
        ({"params": {"max_tokens": 400, "temperature": 0.2, "stop": ["\n\n"]}}, "patch", "params.max_tokens"),
        ({"params": {"max_tokens": 300, "temperature": 0.2, "stop": ["\n"]}}, "patch", "params.stop"),
        ({"gates": {"fairness_max_gap": 0.08, "canary_slo": {"max_p99_ms": 800, "min_calls": 200}}}, "patch", "gates.fairness_max_gap"),
        ({"eval": {**spec_dict()["eval"], "score": 0.95}}, "patch", "eval.score"),
        ({"card": {**spec_dict()["card"], "limitations": "English only"}}, "patch", "card.limitations"),
        ({"owner": "team-core"}, "patch", "owner"),
        ({"description": "Routes tickets."}, "patch", "description"),
        ({"lineage": {**spec_dict()["lineage"], "training_run": "train-43"}}, "patch", "lineage.training_run"),
        ({"labels": {"family": "triage", "app": "helpdesk"}}, "patch", "labels.app"),
        ({"labels": None}, "patch", "labels"),
        # relocating identical bytes (sha256 unchanged) is configuration
        ({"artifacts": with_artifact(0, uri="s3://new-bucket/adapter.safetensors")}, "patch", "artifacts.adapter.uri"),
        ({"model": with_model(uri="s3://models/tiny")}, "patch", "model.uri"),
        ({"retrieval": {"kb": "kb-index@2026-06-01", "faq": {"ref": "faq-index@v2", "sha256": "c" * 64, "uri": "s3://b2/faq.idx"}}}, "patch", "retrieval.faq.uri"),
    ],
)
def test_each_field_class_decides_its_level(overrides, level, path):
    diff = changed(**overrides)
    assert diff.bump == level
    assert [c.path for c in diff.changes] == [path]
    assert diff.changes[0].level == level


def test_every_spec_field_has_a_level():
    from llmreg.registry.spec import _SPEC_FIELDS

    assert set(FIELD_LEVELS) == set(_SPEC_FIELDS)


@pytest.mark.parametrize(
    ("overrides", "level"),
    [
        ({"params": {"max_tokens": 1}, "prompt_ref": "triage-prompt@v10"}, "minor"),
        ({"params": {"max_tokens": 1}, "model": with_model(revision=OTHER_COMMIT)}, "major"),
        ({"prompt_ref": "triage-prompt@v10", "framework": "vllm", "owner": "x"}, "major"),
        ({"card": {"license": "mit"}, "lineage": {"git_commit": OTHER_COMMIT}}, "patch"),
        ({"artifacts": with_artifact(0, uri="s3://moved/a", sha256=SHA_A)}, "minor"),  # moved AND new bytes
        ({"artifacts": with_artifact(0, uri="s3://moved/a"), "training": {"seed": 1}}, "minor"),
    ],
)
def test_mixed_diffs_take_the_highest_level(overrides, level):
    diff = changed(**overrides)
    assert diff.bump == level
    assert max(c.level for c in diff.changes if c.level == level) == level
    assert diff.reason().startswith(f"{level}: ")


def test_swapping_the_whole_model_is_major():
    diff = changed(model="gpt-4o-2024-08-06")
    assert diff.bump == "major"
    assert {c.path for c in diff.changes} == {"model.provider", "model.id", "model.snapshot", "model.revision", "model.sha256", "model.architecture"}
    assert {c.level for c in diff.changes} == {"major"}


def test_change_records_old_and_new_plain_values():
    diff = changed(params={"max_tokens": 400, "temperature": 0.2, "stop": ["\n\n"]})
    (change,) = diff.changes
    assert (change.old, change.new) == (300, 400)
    assert diff.to_dict() == {"bump": "patch", "changes": [{"path": "params.max_tokens", "old": 300, "new": 400, "level": "patch"}]}


def test_added_and_removed_subtrees_are_one_change():
    diff = diff_specs(make_spec(eval=None), make_spec())
    (change,) = diff.changes
    assert change.path == "eval" and change.old is None and change.new["score"] == 0.94
    removed = diff_specs(make_spec(), make_spec(retrieval=None))
    assert [(c.path, c.new) for c in removed.changes] == [("retrieval", None)]


def test_type_changes_count_even_when_python_calls_them_equal():
    diff = changed(params={"max_tokens": 300.0, "temperature": 0.2, "stop": ["\n\n"]})
    assert [c.path for c in diff.changes] == ["params.max_tokens"]


def test_keys_with_dots_do_not_collide():
    a = make_spec(params={"a.b": 1, "a": {"b": 1}})
    b = make_spec(params={"a.b": 1, "a": {"b": 2}})
    assert [c.path for c in diff_specs(a, b).changes] == ["params.a.b"]
    c = make_spec(params={"a.b": 2, "a": {"b": 1}})
    assert [c.path for c in diff_specs(a, c).changes] == ['params."a.b"']


def test_identical_specs_have_no_changes_and_are_refused():
    diff = diff_specs(make_spec(), make_spec())
    assert diff.identical and diff.bump is None and diff.changes == ()
    with pytest.raises(Conflict) as info:
        refuse_identical(diff, name="support-triage", latest="1.2.0")
    assert str(info.value) == "support-triage: identical to 1.2.0; nothing to register"
    refuse_identical(changed(owner="x"), name="support-triage", latest="1.2.0")  # no error


def test_first_version_diff_lists_every_field_without_a_bump():
    spec = make_spec()
    diff = diff_specs(None, spec)
    assert diff.bump is None and diff.reason() == "first version"
    assert [c.path for c in diff.changes] == list(spec.to_dict())
    assert all(c.old is None for c in diff.changes)


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize(
    ("previous", "bump", "override", "existing", "expected"),
    [
        (None, None, None, (), "1.0.0"),
        (None, "major", None, (), "1.0.0"),
        ("1.2.3", "patch", None, ("1.0.0", "1.2.3"), "1.2.4"),
        ("1.2.3", "minor", None, ("1.2.3",), "1.3.0"),
        ("1.2.3", "major", None, ("1.2.3",), "2.0.0"),
        ("1.9.0", "minor", None, ("1.9.0",), "1.10.0"),
        ("1.2.3", "patch", None, ("1.2.3", "1.5.0"), "1.5.1"),  # bumps from the highest, never collides
        (None, None, "0.1.0", (), "0.1.0"),
        ("1.2.3", "patch", "2.0.0", ("1.2.3",), "2.0.0"),
        ("1.2.3", "major", "1.2.4", ("1.2.3",), "1.2.4"),  # an override may bump less; it is recorded
    ],
)
def test_next_version(previous, bump, override, existing, expected):
    assert next_version(previous, bump, override, existing) == expected


@pytest.mark.parametrize(
    ("previous", "bump", "override", "existing", "error", "fragment"),
    [
        ("1.2.3", "patch", "1.2.3", ("1.0.0", "1.2.3"), Conflict, "version 1.2.3 already exists; registered versions are immutable, choose one above 1.2.3"),
        ("1.2.3", "patch", "1.0.0", ("1.0.0", "1.2.3"), Conflict, "already exists"),
        ("1.2.3", "patch", "1.1.0", ("1.0.0", "1.2.3"), Conflict, "version 1.1.0 is below the latest 1.2.3; versions only move forward"),
        ("1.2.3", "patch", "1.2", ("1.2.3",), BadInput, "version: '1.2' is not a semantic version X.Y.Z"),
        ("1.2.3", "patch", "v2.0.0", ("1.2.3",), BadInput, "is not a semantic version"),
        ("1.2.3", None, None, ("1.2.3",), Conflict, "nothing changed since 1.2.3; nothing to register"),
        ("1.2.3", "huge", None, ("1.2.3",), BadInput, "bump: 'huge' is not major, minor or patch"),
    ],
)
def test_next_version_refusals(previous, bump, override, existing, error, fragment):
    with pytest.raises(error) as info:
        next_version(previous, bump, override, existing)
    assert fragment in str(info.value)


@pytest.mark.parametrize("text", ["1.0.0", "0.0.0", "10.20.30"])
def test_parse_version_accepts_plain_semver(text):
    assert ".".join(map(str, parse_version(text))) == text


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "1.0.0-rc1", "v1.0.0", " 1.0.0", "1.0.0.0", "", None, 1, "a.b.c"])
def test_parse_version_refuses_everything_else(text):
    with pytest.raises(BadInput) as info:
        parse_version(text)
    assert info.value.field == "version"


@pytest.mark.parametrize(("value", "expected"), [(14, "14.0.0"), ("14", "14.0.0"), ("1.2", "1.2.0"), ("v1.2.3", "1.2.3"), ("1.2.3", "1.2.3")])
def test_coerce_version_for_imports(value, expected):
    assert coerce_version(value) == expected


@pytest.mark.parametrize("value", ["one", "1.2.3.4", 1.5, True, None, "-1"])
def test_coerce_version_refuses_non_versions(value):
    with pytest.raises(BadInput):
        coerce_version(value)


def test_version_key_sorts_numerically():
    assert sorted(["1.10.0", "1.9.0", "1.2.10", "1.2.9", "0.9.0"], key=version_key) == ["0.9.0", "1.2.9", "1.2.10", "1.9.0", "1.10.0"]


def test_uses_no_commit_sha_by_accident():
    assert COMMIT != OTHER_COMMIT  # guards the table above from comparing a value with itself
