"""Sticky canary assignment: deterministic, uniform, monotone when the weight ramps up."""
from __future__ import annotations

from llmreg.serving.assignment import bucket, in_split, split_salt


def test_bucket_is_deterministic_and_in_unit_interval():
    salt = split_salt("support-triage", "default")
    points = [bucket(f"user-{i}", salt) for i in range(2000)]
    assert points == [bucket(f"user-{i}", salt) for i in range(2000)]
    assert all(0.0 <= p < 1.0 for p in points)


def test_bucket_is_close_to_uniform():
    salt = split_salt("support-triage", "default")
    points = [bucket(f"user-{i}", salt) for i in range(20000)]
    deciles = [0] * 10
    for p in points:
        deciles[int(p * 10)] += 1
    assert all(1800 <= count <= 2200 for count in deciles), deciles


def test_salt_separates_entries_and_environments():
    a = [bucket(f"u{i}", split_salt("a", "default")) for i in range(50)]
    b = [bucket(f"u{i}", split_salt("b", "default")) for i in range(50)]
    c = [bucket(f"u{i}", split_salt("a", "eu")) for i in range(50)]
    assert a != b and a != c


def test_ramping_the_weight_only_adds_callers():
    salt = split_salt("support-triage", "default")
    keys = [f"user-{i}" for i in range(5000)]
    at_5 = {k for k in keys if in_split(k, salt, 0.05)}
    at_25 = {k for k in keys if in_split(k, salt, 0.25)}
    assert at_5 <= at_25
    assert 150 <= len(at_5) <= 350 and 1100 <= len(at_25) <= 1400


def test_edge_weights():
    salt = split_salt("x", "default")
    assert not any(in_split(f"k{i}", salt, 0.0) for i in range(100))
    assert not any(in_split(f"k{i}", salt, None) for i in range(100))
    assert all(in_split(f"k{i}", salt, 1.0) for i in range(100))


def test_without_a_key_the_draw_is_random_but_proportional():
    hits = sum(in_split(None, "s", 0.3) for _ in range(10000))
    assert 2700 <= hits <= 3300
