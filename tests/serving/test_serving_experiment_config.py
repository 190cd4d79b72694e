"""Experiments in the gateway config, and their sticky split: one clear line per bad setting,
and an assignment that is deterministic, proportional and independent of the canary's."""
from __future__ import annotations

import subprocess
import sys

import pytest

from llmreg.registry.errors import BadInput
from llmreg.serving.addressing import ExperimentTarget, Target, parse_request_target
from llmreg.serving.api_errors import ApiError
from llmreg.serving.assignment import bucket, experiment_salt, pick, split_salt
from llmreg.serving.config import GatewayConfig

AB = {"triage-ab": {"variants": {
    "control": {"entry": "support-triage", "stage": "production", "weight": 0.3},
    "candidate": {"entry": "support-triage-v2", "weight": 0.7},
}}}


def test_experiment_parses_with_defaults():
    config = GatewayConfig.from_dict({"experiments": AB})
    experiment = config.experiments["triage-ab"]
    control, candidate = experiment.variants
    assert (control.name, control.entry, control.stage, control.weight) == ("control", "support-triage", "production", 0.3)
    assert (candidate.stage, candidate.version) == ("production", None)  # stage defaults to production
    assert candidate.address("eu") == "support-triage-v2@production:eu"
    assert experiment.label(candidate) == "triage-ab/candidate"


def test_a_variant_may_pin_a_version():
    data = {"ab": {"variants": {"a": {"entry": "x", "version": "1.2.0", "weight": 0.5},
                                "b": {"entry": "x", "stage": "canary", "weight": 0.5}}}}
    a, b = GatewayConfig.from_dict({"experiments": data}).experiments["ab"].variants
    assert (a.stage, a.version, a.address("default")) == (None, "1.2.0", "x@1.2.0:default")
    assert (b.stage, b.version) == ("canary", None)


def _variants(**variants):
    return {"experiments": {"ab": {"variants": variants}}}


GOOD = {"entry": "x", "weight": 0.5}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"experiments": ["ab"]}, "experiments"),
        ({"experiments": {"A/B": {"variants": {}}}}, "experiments.A/B"),
        ({"experiments": {"ab": {"variants": {}, "split": 1}}}, "experiments.ab.split"),
        ({"experiments": {"ab": {"variants": {"only": {"entry": "x", "weight": 1.0}}}}}, "experiments.ab.variants"),
        (_variants(a={"entry": "x", "weight": 0.5}, b={"entry": "y", "weight": 0.6}), "experiments.ab.variants"),
        (_variants(a={"entry": "x", "weight": 0.2}, b={"entry": "y", "weight": 0.2}), "experiments.ab.variants"),
        (_variants(a={"entry": "x"}, b=GOOD), "experiments.ab.variants.a.weight"),
        (_variants(a={"entry": "x", "weight": 1.5}, b=GOOD), "experiments.ab.variants.a.weight"),
        (_variants(a={"entry": "x", "weight": "half"}, b=GOOD), "experiments.ab.variants.a.weight"),
        (_variants(a={"weight": 0.5}, b=GOOD), "experiments.ab.variants.a.entry"),
        (_variants(a={"entry": "Support Triage", "weight": 0.5}, b=GOOD), "experiments.ab.variants.a.entry"),
        (_variants(a={"entry": "x", "stage": "prod", "weight": 0.5}, b=GOOD), "experiments.ab.variants.a.stage"),
        (_variants(a={"entry": "x", "version": "latest", "weight": 0.5}, b=GOOD), "experiments.ab.variants.a.version"),
        (_variants(a={"entry": "x", "version": "1.0.0", "stage": "canary", "weight": 0.5}, b=GOOD),
         "experiments.ab.variants.a"),
        (_variants(a={"entry": "x", "weight": 0.5, "env": "eu"}, b=GOOD), "experiments.ab.variants.a.env"),
        ({"experiments": {"ab": {"variants": {"Control!": GOOD, "b": GOOD}}}}, "experiments.ab.variants.Control!"),
        ({"experiments": {"ab": {"variants": {"a": {"entry": "cd", "weight": 0.5}, "b": GOOD}},
                          "cd": {"variants": {"a": GOOD, "b": GOOD}}}}, "experiments.ab.variants.a.entry"),
    ],
)
def test_bad_experiment_settings_name_the_field(data, field):
    with pytest.raises(BadInput) as info:
        GatewayConfig.from_dict(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"gateway config: {field}:")
    assert "\n" not in str(info.value)


def test_weights_off_by_rounding_only_are_accepted():
    data = _variants(a={"entry": "x", "weight": 0.1}, b={"entry": "x", "weight": 0.2}, c={"entry": "x", "weight": 0.7})
    assert abs(sum(v.weight for v in GatewayConfig.from_dict(data).experiments["ab"].variants) - 1.0) < 1e-9


def test_a_repeated_variant_name_in_the_file_is_refused_not_silently_dropped(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "experiments:\n"
        "  triage-ab:\n"
        "    variants:\n"
        "      control: {entry: support-triage, weight: 0.5}\n"
        "      control: {entry: support-triage-v2, weight: 0.5}\n", encoding="utf-8")
    with pytest.raises(BadInput) as info:
        GatewayConfig.from_file(path)
    assert info.value.field == "experiments.triage-ab.variants.control"
    assert "appears twice (lines 4 and 5)" in str(info.value) and "\n" not in str(info.value)


def test_serve_with_a_bad_experiment_exits_with_one_line_naming_the_field(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "experiments:\n"
        "  triage-ab:\n"
        "    variants:\n"
        "      control: {entry: support-triage, weight: 0.5}\n"
        "      candidate: {entry: support-triage-v2, weight: 0.4}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "llmreg.cli", "serve", "--config", str(path), "--store",
         f"sqlite:///{tmp_path / 'registry.db'}", "--port", "0"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "experiments.triage-ab.variants: weights must sum to 1, got 0.9 (control=0.5, candidate=0.4)" in lines[0]
    assert not (tmp_path / "registry.db").exists()  # refused before opening anything


def test_addressing_an_experiment():
    names = ("triage-ab",)
    assert parse_request_target("triage-ab", experiments=names) == ExperimentTarget("triage-ab", "default")
    assert parse_request_target("triage-ab:eu", experiments=names) == ExperimentTarget("triage-ab", "eu")
    assert parse_request_target("triage-ab", experiments=names, env_header="eu") == ExperimentTarget("triage-ab", "eu")
    assert parse_request_target("support-triage", experiments=names) == Target("support-triage", "default", "production")
    for bad, param in (("triage-ab@production", "model"), ("triage-ab:production", "model"),
                       ("triage-ab:eu", "model")):
        with pytest.raises(ApiError) as info:
            parse_request_target(bad, experiments=names, env_header="us" if bad == "triage-ab:eu" else None)
        assert info.value.status == 400 and info.value.param == param
    with pytest.raises(ApiError, match="write 'triage-ab' or 'triage-ab:ENV'"):
        parse_request_target("triage-ab@canary", experiments=names)


def test_pick_is_sticky_and_proportional():
    salt = experiment_salt("triage-ab", "default")
    keys = [f"user-{i}" for i in range(10000)]
    first = [pick(k, salt, [0.2, 0.5, 0.3]) for k in keys]
    assert first == [pick(k, salt, [0.2, 0.5, 0.3]) for k in keys]
    shares = [first.count(i) / len(keys) for i in range(3)]
    assert all(abs(share - want) < 0.02 for share, want in zip(shares, [0.2, 0.5, 0.3])), shares
    assert first == [0 if bucket(k, salt) < 0.2 else 1 if bucket(k, salt) < 0.7 else 2 for k in keys]


def test_pick_never_chooses_a_zero_weight_share():
    salt = experiment_salt("x", "default")
    assert {pick(f"k{i}", salt, [0.0, 1.0, 0.0]) for i in range(500)} == {1}
    assert {pick(None, salt, [0.5, 0.0, 0.5]) for _ in range(500)} == {0, 2}


def test_experiment_and_canary_draws_are_independent():
    """Same caller keys, same environment: the experiment's arm says nothing about the canary."""
    keys = [f"user-{i}" for i in range(20000)]
    arm = [pick(k, experiment_salt("support-triage", "default"), [0.5, 0.5]) for k in keys]
    canary = [bucket(k, split_salt("support-triage", "default")) < 0.5 for k in keys]
    cells = {(a, c): 0 for a in (0, 1) for c in (False, True)}
    for a, c in zip(arm, canary):
        cells[(a, c)] += 1
    assert all(abs(n / len(keys) - 0.25) < 0.015 for n in cells.values()), cells
