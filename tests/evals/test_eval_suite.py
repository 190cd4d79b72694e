"""Suite loading: the shipped suite is valid, every malformed suite fails with one line
naming the field and the fix, and edits without a version bump are caught."""
from __future__ import annotations

import copy

import pytest
import yaml

from evals.suite import SuiteError, check_recorded, load_suite, parse_suite
from llmreg.registry.documents import read_document
from llmreg.registry.errors import BadInput

SUITE_REL = "evals/suites/triage-eval.yaml"


@pytest.fixture(scope="module")
def valid(repo_root) -> dict:
    return read_document(repo_root / SUITE_REL, "suite")


def test_shipped_suite_loads_with_pinned_prompt(repo_root):
    suite = load_suite(repo_root / SUITE_REL)
    assert suite.name == "triage-eval"
    assert suite.version == "1.0.0"
    assert suite.threshold == 0.8
    assert suite.segment_column == "segment"
    assert suite.fairness_max_gap == 0.1
    assert suite.safety.policy == "evals/policies/safety-policy.yaml"
    assert suite.budgets.latency_p99_ms > 0 and suite.budgets.cost_per_1k_usd >= 0
    template = suite.load_prompt(repo_root)
    assert template.ref == suite.prompt.ref == "triage-prompt@v1"
    assert template.sha256 == suite.prompt.sha256


def test_digest_ignores_layout_and_comments_but_not_content(valid):
    a = parse_suite(copy.deepcopy(valid))
    reordered = dict(reversed(list(copy.deepcopy(valid).items())))
    assert parse_suite(reordered).digest == a.digest
    changed = copy.deepcopy(valid)
    changed["threshold"] = 0.81
    assert parse_suite(changed).digest != a.digest
    assert len(a.digest) == 64


def _set(path: str, value):
    def mutate(data: dict) -> None:
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
    return mutate


def _drop(path: str):
    def mutate(data: dict) -> None:
        *parents, leaf = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[leaf]
    return mutate


# (case id, mutation, substrings the single-line error must contain)
ERROR_CASES = [
    ("unknown top field", _set("treshold", 0.8), ["treshold: unknown key", "did you mean 'threshold'"]),
    ("unknown nested field", _set("dataset.lable_column", "x"), ["dataset.lable_column: unknown key"]),
    ("missing threshold", _drop("threshold"), ["threshold: required", "add threshold"]),
    ("threshold wrong type", _set("threshold", "high"), ["threshold: input should be a valid number", "'high'"]),
    ("threshold bool", _set("threshold", True), ["threshold: input should be a valid number", "True"]),
    ("threshold out of range", _set("threshold", 1.5), ["threshold: is 1.5, outside [0, 1]"]),
    ("version not semver", _set("version", "v1"), ["version: is 'v1'", "semantic version", "X.Y.Z"]),
    ("version as float", _set("version", 1.0), ["version: input should be a valid string", "quote it"]),
    ("missing name", _drop("name"), ["name: required", "add name"]),
    ("dataset not mapping", _set("dataset", "data/eval.parquet"),
     ["dataset: input should be a valid dictionary", "add dataset: {path"]),
    ("missing label column", _drop("dataset.label_column"), ["dataset.label_column: required", "gold label"]),
    ("bad sha", _set("prompt.sha256", "abc"), ["prompt.sha256: ", "64 lowercase hex"]),
    ("unknown metric", _set("metrics", ["accuracy", "bleu"]), ["metrics: unknown metric 'bleu'", "use one of"]),
    ("duplicate metric", _set("metrics", ["accuracy", "accuracy", "segment_accuracy", "fairness_gap",
                                         "safety_violation_rate", "latency", "cost"]), ["metrics: ", "twice"]),
    ("metrics not list", _set("metrics", "accuracy"), ["metrics: input should be a valid list", "list metrics"]),
    ("fairness without segments", _drop("segments"), ["segments: required", "fairness needs"]),
    ("fairness metric not listed", _set("metrics", ["accuracy", "segment_accuracy"]),
     ["metrics: must list 'fairness_gap'", "fairness is set"]),
    ("max_gap out of range", _set("fairness.max_gap", -0.1), ["fairness.max_gap: ", "outside [0, 1]"]),
    ("negative latency budget", _set("budgets.latency_p99_ms", 0), ["budgets.latency_p99_ms: is 0.0, not > 0"]),
    ("unknown budget", _set("budgets.tokens", 5), ["budgets.tokens: unknown key", "latency_p99_ms"]),
    ("safety without policy", _set("safety", {"max_violation_rate": 0.0}), ["safety.policy: required"]),
]


@pytest.mark.parametrize("case,mutate,expected", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_malformed_suite_is_one_clear_line(tmp_path, valid, case, mutate, expected):
    data = copy.deepcopy(valid)
    mutate(data)
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert isinstance(info.value, BadInput) and info.value.exit_code == 2
    assert "\n" not in message
    assert message.startswith(str(path))
    for fragment in expected:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


@pytest.mark.parametrize(
    "text,expected",
    [("name: [unclosed", "malformed YAML"), ("- a\n- b\n", "expected a mapping"), ("", "expected a mapping"),
     ("name: a\nname: b\n", "key 'name' appears twice")],
)
def test_unreadable_suite_files(tmp_path, text, expected):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=expected):
        load_suite(path)


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="cannot read the suite file"):
        load_suite(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (_set("prompt.sha256", "0" * 64), "prompt.sha256: does not match"),
        (_set("prompt.ref", "triage-prompt@v2"), "prompt.ref: is 'triage-prompt@v2'"),
        (_set("dataset.input_column", "body"), "dataset.input_column: 'body' is not a variable"),
        (_set("prompt.path", "prompts/missing.yaml"), "cannot read the prompt template"),
    ],
)
def test_prompt_pin_is_verified(repo_root, valid, mutate, expected):
    data = copy.deepcopy(valid)
    mutate(data)
    suite = parse_suite(data, source="s.yaml")
    with pytest.raises(SuiteError, match=expected):
        suite.load_prompt(repo_root)


def test_changed_suite_without_version_bump_is_rejected(valid):
    recorded = parse_suite(copy.deepcopy(valid))
    edited_data = copy.deepcopy(valid)
    edited_data["fairness"]["max_gap"] = 0.3
    edited = parse_suite(edited_data, source="s.yaml")
    with pytest.raises(SuiteError, match="bump version"):
        check_recorded(edited, recorded_version=recorded.version, recorded_digest=recorded.digest)
    # unchanged content, or a bumped version, are both fine
    check_recorded(recorded, recorded_version=recorded.version, recorded_digest=recorded.digest)
    edited_data["version"] = "1.0.1"
    check_recorded(parse_suite(edited_data), recorded_version="1.0.0", recorded_digest=recorded.digest)


def test_suite_is_frozen(repo_root):
    suite = load_suite(repo_root / SUITE_REL)
    with pytest.raises(AttributeError):
        suite.threshold = 0.1  # type: ignore[misc]


def test_shipped_suite_digest_is_stable(repo_root):
    """Reports and registry entries record this digest: loading must not change it."""
    suite = load_suite(repo_root / SUITE_REL)
    assert suite.digest == "72c9871cb6e4456668d91c447975c72d315c0aa2bf5f324fd005606ebb775e5b"
