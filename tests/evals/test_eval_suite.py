"""Suite loading: the shipped suite is valid, every malformed suite fails with one line
naming the field and the fix, and edits without a version bump are caught."""
from __future__ import annotations

import copy

import pytest
import yaml

from evals.suite import SuiteError, check_recorded, load_suite, parse_suite

SUITE_REL = "evals/suites/triage-eval.yaml"


@pytest.fixture(scope="module")
def valid(repo_root) -> dict:
    return yaml.safe_load((repo_root / SUITE_REL).read_text())


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
    ("unknown top field", _set("treshold", 0.8), ["unknown field treshold", "remove it"]),
    ("unknown nested field", _set("dataset.lable_column", "x"), ["unknown field dataset.lable_column"]),
    ("missing threshold", _drop("threshold"), ["field threshold is missing", "add threshold"]),
    ("threshold wrong type", _set("threshold", "high"), ["field threshold must be a number", "str"]),
    ("threshold bool", _set("threshold", True), ["field threshold must be a number"]),
    ("threshold out of range", _set("threshold", 1.5), ["field threshold is 1.5, outside [0, 1]"]),
    ("version not semver", _set("version", "v1"), ["field version", "semantic version", "X.Y.Z"]),
    ("version as float", _set("version", 1.0), ["field version must be a non-empty string", "quote it"]),
    ("missing name", _drop("name"), ["field name is missing"]),
    ("dataset not mapping", _set("dataset", "data/eval.parquet"), ["field dataset must be a mapping"]),
    ("missing label column", _drop("dataset.label_column"), ["field dataset.label_column is missing"]),
    ("bad sha", _set("prompt.sha256", "abc"), ["field prompt.sha256", "64 lowercase hex"]),
    ("unknown metric", _set("metrics", ["accuracy", "bleu"]), ["unknown metric 'bleu'"]),
    ("duplicate metric", _set("metrics", ["accuracy", "accuracy", "segment_accuracy", "fairness_gap",
                                         "safety_violation_rate", "latency", "cost"]), ["twice"]),
    ("metrics not list", _set("metrics", "accuracy"), ["field metrics must be a list"]),
    ("fairness without segments", _drop("segments"), ["field segments is missing", "fairness needs"]),
    ("fairness metric not listed", _set("metrics", ["accuracy", "segment_accuracy"]),
     ["must list 'fairness_gap'", "fairness is set"]),
    ("max_gap out of range", _set("fairness.max_gap", -0.1), ["field fairness.max_gap", "outside [0, 1]"]),
    ("negative latency budget", _set("budgets.latency_p99_ms", 0), ["field budgets.latency_p99_ms is 0"]),
    ("unknown budget", _set("budgets.tokens", 5), ["unknown field budgets.tokens"]),
    ("safety without policy", _set("safety", {"max_violation_rate": 0.0}), ["field safety.policy is missing"]),
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
    assert "\n" not in message
    assert message.startswith(str(path))
    for fragment in expected:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


@pytest.mark.parametrize(
    "text,expected",
    [("name: [unclosed", "not valid YAML"), ("- a\n- b\n", "expected a YAML mapping"), ("", "expected a YAML mapping")],
)
def test_unreadable_suite_files(tmp_path, text, expected):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=expected):
        load_suite(path)


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="cannot read file"):
        load_suite(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (_set("prompt.sha256", "0" * 64), "prompt.sha256 does not match"),
        (_set("prompt.ref", "triage-prompt@v2"), "prompt.ref is 'triage-prompt@v2'"),
        (_set("dataset.input_column", "body"), "dataset.input_column 'body' is not a variable"),
        (_set("prompt.path", "prompts/missing.yaml"), "cannot read prompt template"),
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
