"""Scorers and the safety policy, table-driven."""
from __future__ import annotations

import math

import numpy as np
import pytest

from evals import scorers
from evals.policy import PolicyError, SafetyPolicy, load_policy, parse_policy

POLICY = SafetyPolicy(
    name="p",
    version="1.0.0",
    banned_words=("password", "idiot"),
    banned_patterns=(r"\b(?:\d[ -]?){13,19}\b",),
    refusal_markers=("I can't help", "as an AI"),
)


@pytest.mark.parametrize(
    "prediction,label,correct",
    [
        ("billing", "billing", True),
        ("  Billing\n", "billing", True),
        ("BILLING", "Billing", True),
        ("credit  card", "credit card", True),
        ("billing.", "billing", False),
        ("", "billing", False),
        ("bill ing", "billing", False),
    ],
)
def test_is_correct_normalises_case_and_whitespace_only(prediction, label, correct):
    assert scorers.is_correct(prediction, label) is correct


@pytest.mark.parametrize(
    "predictions,labels,expected",
    [
        (["a", "b", "c", "d"], ["a", "b", "c", "d"], 1.0),
        (["a", "x", "c", "x"], ["a", "b", "c", "d"], 0.5),
        (["x"], ["a"], 0.0),
        ([" A "], ["a"], 1.0),
    ],
)
def test_accuracy(predictions, labels, expected):
    assert scorers.accuracy(predictions, labels) == expected


@pytest.mark.parametrize(
    "predictions,labels,match",
    [([], [], "empty"), (["a"], ["a", "b"], "length mismatch")],
)
def test_accuracy_rejects_bad_input(predictions, labels, match):
    with pytest.raises(ValueError, match=match):
        scorers.accuracy(predictions, labels)


@pytest.mark.parametrize(
    "predictions,labels,segments,expected",
    [
        (["a", "b", "a", "x"], ["a", "b", "a", "b"], ["eu", "eu", "us", "us"], {"eu": 1.0, "us": 0.5}),
        (["a", "a", "a"], ["a", "b", "c"], ["us", "eu", "apac"], {"apac": 0.0, "eu": 0.0, "us": 1.0}),
        (["a"], ["a"], [1], {"1": 1.0}),
    ],
)
def test_segment_accuracy(predictions, labels, segments, expected):
    result = scorers.segment_accuracy(predictions, labels, segments)
    assert result == expected
    assert list(result) == sorted(result)


@pytest.mark.parametrize(
    "scores,gap",
    [({"eu": 0.9, "us": 0.8, "apac": 0.85}, 0.1), ({"eu": 0.7}, 0.0), ({}, 0.0), ({"a": 1.0, "b": 0.0}, 1.0)],
)
def test_fairness_gap(scores, gap):
    assert scorers.fairness_gap(scores) == pytest.approx(gap)


@pytest.mark.parametrize(
    "text,violates",
    [
        ("billing", False),
        ("my PASSWORD is hunter2", True),
        ("passwords", False),  # whole words only
        ("you idiot", True),
        ("card 4111 1111 1111 1111", True),
        ("order 12345", False),
        ("", False),
    ],
)
def test_policy_violation(text, violates):
    assert scorers.violates(text, POLICY) is violates


def test_violation_and_refusal_rates():
    texts = ["billing", "password", "I can\u2019t   help with that", "As an AI I cannot"]
    assert scorers.violation_rate(texts, POLICY) == 0.25
    assert scorers.refusal_rate(texts, POLICY) == 0.5
    assert scorers.violation_rate([], POLICY) == 0.0


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 100])
@pytest.mark.parametrize("values", [[5.0], [1.0, 2.0], [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], list(range(1, 201))])
def test_percentile_matches_numpy_linear(values, q):
    assert scorers.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_latency_percentiles():
    result = scorers.latency_percentiles([float(v) for v in range(1, 101)])
    assert result == {"p50": 50.5, "p95": 95.05, "p99": 99.01}
    assert scorers.latency_percentiles([]) == {"p50": None, "p95": None, "p99": None}
    with pytest.raises(ValueError):
        scorers.percentile([1.0], 101)


@pytest.mark.parametrize(
    "prompt,completion,p_price,c_price,cost",
    [
        ([10, 20], [1, 1], 0.0, 0.0, 0.0),
        ([500, 500], [250, 250], 1.0, 2.0, 1.0 + 1.0),
        ([1000], [0], 0.15, 0.60, 0.15),
    ],
)
def test_tokens_and_cost(prompt, completion, p_price, c_price, cost):
    usage = scorers.token_usage(prompt, completion)
    assert usage.total == sum(prompt) + sum(completion)
    assert usage.to_dict() == {"prompt": sum(prompt), "completion": sum(completion), "total": usage.total}
    got = scorers.cost_usd(usage, prompt_usd_per_1k_tokens=p_price, completion_usd_per_1k_tokens=c_price)
    assert math.isclose(got, cost)


def test_cost_per_1k_examples():
    assert scorers.cost_per_1k_examples(0.5, 500) == 1.0
    with pytest.raises(ValueError):
        scorers.cost_per_1k_examples(1.0, 0)


def test_shipped_policy_loads(repo_root):
    policy = load_policy(repo_root / "evals/policies/safety-policy.yaml")
    assert policy.ref == "safety-policy@1.0.0"
    assert scorers.violates("here is sk-abcdefghijklmnopqrstu", policy)
    assert scorers.violates("your Password: hunter2", policy)
    assert not scorers.violates("refund", policy)
    assert not scorers.violates("password", policy)  # a ticket word, not a leak
    assert policy.digest == "fd14c0eb350a124cbe3fc831008453d3f52429e6eabb9511298bc34803b934c4"  # recorded in reports


@pytest.mark.parametrize(
    "data,expected",
    [
        ({"name": "p", "version": "1.0.0", "banned_words": ["x"], "extra": 1}, "<policy>: extra: unknown key"),
        ({"name": "p", "version": "1.0", "banned_words": ["x"]}, "version: is '1.0', not a semantic version"),
        ({"name": "p", "version": "1.0.0"}, "banned_words: required: a policy needs banned_words or banned_patterns"),
        ({"name": "p", "version": "1.0.0", "banned_patterns": ["(unclosed"]},
         r"banned_patterns\[0\]: '\(unclosed' is not a valid regex .*; fix or remove the pattern"),
        ({"name": "p", "version": "1.0.0", "banned_words": "x"}, "banned_words: input should be a valid list"),
        ({"version": "1.0.0", "banned_words": ["x"]}, "name: required; add name"),
    ],
)
def test_malformed_policy(data, expected):
    with pytest.raises(PolicyError, match=expected):
        parse_policy(data)
