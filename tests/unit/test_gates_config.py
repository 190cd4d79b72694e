"""gates.yaml: defaults, strict validation, lookups."""
from __future__ import annotations

import pytest

from llmreg.registry.errors import BadInput
from llmreg.registry.gates_config import GatesConfig, suite_fairness_max_gap, validate_entry_gates
from llmreg.registry.policy_documents import load_gates, parse_gates


def test_defaults():
    config = GatesConfig()
    assert config.eval_threshold is None
    assert config.fairness_max_gap == 0.1
    assert dict(config.canary_slo) == {"max_error_rate": 0.02, "max_p99_ms": 2000.0, "min_calls": 100}
    assert config.required_production_approvals == 2
    assert config.config_threshold("any") == (None, "")


def test_partial_slo_merges_over_defaults_and_round_trips():
    config = parse_gates({"eval_threshold": 0.8, "suite_thresholds": {"triage-eval-v4": 0.9}, "canary_slo": {"max_p99_ms": 800}, "archive_checklist": ["drained"]})
    assert dict(config.canary_slo) == {"max_error_rate": 0.02, "max_p99_ms": 800.0, "min_calls": 100}
    assert config.config_threshold("triage-eval-v4") == (0.9, "gates.yaml suite_thresholds.triage-eval-v4")
    assert config.config_threshold("other") == (0.8, "gates.yaml eval_threshold")
    assert GatesConfig.from_dict(config.to_dict()) == config
    assert hash(GatesConfig.from_dict(config.to_dict())) == hash(config) != hash(GatesConfig())


def test_entry_gates_override_config_bounds():
    config = GatesConfig(fairness_max_gap=0.2, canary_slo={"min_calls": 500})
    assert config.fairness_bound({}) == (0.2, "gates.yaml fairness_max_gap")
    assert config.fairness_bound({"fairness_max_gap": 0.05}) == (0.05, "entry gates.fairness_max_gap")
    assert config.slo_bounds({"canary_slo": {"max_p99_ms": 700}}) == {"max_error_rate": 0.02, "max_p99_ms": 700, "min_calls": 500}


def test_fairness_bound_credits_where_it_came_from():
    # no gates file ever set: the built-in default, and to_dict does not invent a gates.yaml value
    assert GatesConfig().fairness_bound({}) == (0.1, "built-in default")
    assert "fairness_max_gap" not in GatesConfig().to_dict()
    assert GatesConfig.from_dict({"eval_threshold": 0.8}).fairness_bound({}) == (0.1, "built-in default")
    # set in gates.yaml (even to the default's value): credited to the file, and kept on a round trip
    configured = GatesConfig.from_dict({"fairness_max_gap": 0.1})
    assert configured.fairness_bound({}) == (0.1, "gates.yaml fairness_max_gap")
    assert GatesConfig.from_dict(configured.to_dict()) == configured != GatesConfig()
    # suite definition > gates.yaml > built-in default; an entry's bound only when tighter (a floor)
    assert configured.fairness_bound({}, 0.06, "asr-eval@2.0.0") == (0.06, "suite asr-eval@2.0.0 fairness.max_gap")
    assert GatesConfig().fairness_bound({}, 0.06, "asr-eval@2.0.0") == (0.06, "suite asr-eval@2.0.0 fairness.max_gap")
    assert configured.fairness_bound({"fairness_max_gap": 0.2}, 0.06, "asr-eval@2.0.0") == (0.06, "suite asr-eval@2.0.0 fairness.max_gap")
    assert configured.fairness_bound({"fairness_max_gap": 0.03}, 0.06, "asr-eval@2.0.0") == (0.03, "entry gates.fairness_max_gap")
    assert configured.looser_than_floor({"fairness_max_gap": 0.85}) == (
        "gates.fairness_max_gap", "0.85 is above the registry's floor 0.1 (gates.yaml fairness_max_gap)")
    assert configured.looser_than_floor({"eval_threshold": 0.05}, (0.9, "gates.yaml eval_threshold"))[0] == "gates.eval_threshold"
    assert GatesConfig().looser_than_floor({"canary_slo": {"max_error_rate": 0.95}})[0] == "gates.canary_slo.max_error_rate"
    assert configured.looser_than_floor({"fairness_max_gap": 0.05, "eval_threshold": 0.95}, (0.9, "x")) is None


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ({"name": "asr-eval", "fairness": {"max_gap": 0.06}}, 0.06),
        ({"name": "asr-eval"}, None),
        ({"fairness": {}}, None),
        ({"fairness": {"max_gap": 0}}, 0.0),
        ({"fairness": {"max_gap": "wide"}}, None),  # a stored malformed bound is skipped when read
        (None, None),
    ],
)
def test_suite_fairness_max_gap_reads_the_suite_yaml_shape(definition, expected):
    assert suite_fairness_max_gap(definition) == expected


@pytest.mark.parametrize(
    ("definition", "field"),
    [({"fairness": {"max_gap": 1.5}}, "definition.fairness.max_gap"), ({"fairness": {"max_gap": "wide"}}, "definition.fairness.max_gap"),
     ({"fairness": 0.1}, "definition.fairness")],
)
def test_suite_fairness_max_gap_is_strict_when_registering(definition, field):
    with pytest.raises(BadInput) as info:
        suite_fairness_max_gap(definition, strict=True)
    assert info.value.field == field


def test_from_file_yaml(tmp_path):
    path = tmp_path / "gates.yaml"
    path.write_text("# registry gates\neval_threshold: 0.85\nfairness_max_gap: 0.05\n", encoding="utf-8")
    config = load_gates(path)
    assert config.eval_threshold == 0.85 and config.fairness_max_gap == 0.05


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"eval_treshold": 0.8}, "eval_treshold", "did you mean 'eval_threshold'?"),
        ({"eval_threshold": 1.5}, "eval_threshold", "outside [0, 1]"),
        ({"eval_threshold": "high"}, "eval_threshold", "expected a number"),
        ({"eval_threshold": float("nan")}, "eval_threshold", "not a finite number"),
        ({"suite_thresholds": {"s": 2}}, "suite_thresholds.s", "outside [0, 1]"),
        ({"suite_thresholds": [0.5]}, "suite_thresholds", "expected a mapping"),
        ({"fairness_max_gap": -0.1}, "fairness_max_gap", "outside [0, 1]"),
        ({"canary_slo": {"max_error_rate": 2}}, "canary_slo.max_error_rate", "outside [0, 1]"),
        ({"canary_slo": {"max_p99_ms": 0}}, "canary_slo.max_p99_ms", "must be above 0"),
        ({"canary_slo": {"min_calls": 1.5}}, "canary_slo.min_calls", "expected an integer"),
        ({"canary_slo": {"p99": 5}}, "canary_slo.p99", "unknown key; known fields: max_error_rate"),
        ({"required_production_approvals": 1}, "required_production_approvals", "1 is below 2: production needs two distinct approvers"),
        ({"required_production_approvals": True}, "required_production_approvals", "expected an integer"),
        ({"archive_checklist": "drained"}, "archive_checklist", "expected a list"),
        ({"archive_checklist": ["a", "a"]}, "archive_checklist", "lists an item twice"),
        ([1], "gates", "expected a mapping of gate settings"),
    ],
)
def test_strict_validation(data, field, fragment):
    with pytest.raises(BadInput) as info:
        parse_gates(data, source="gates.yaml")
    assert info.value.field == field
    assert fragment in str(info.value) and str(info.value).startswith("gates.yaml: ")


def test_malformed_gates_file_names_the_line(tmp_path):
    path = tmp_path / "gates.yaml"
    path.write_text("eval_threshold: 0.8\ncanary_slo: {min_calls: 3\n", encoding="utf-8")
    with pytest.raises(BadInput, match="line 3, column 1: malformed YAML"):
        load_gates(path)


def test_entry_gates_validation():
    assert validate_entry_gates({"canary_slo": {"min_calls": 200}, "eval_threshold": 0.9}) == {"eval_threshold": 0.9, "canary_slo": {"min_calls": 200}}
    with pytest.raises(BadInput, match="is registry policy"):
        validate_entry_gates({"archive_checklist": ["x"]})


def test_registry_policy_refusal_names_the_real_command():
    with pytest.raises(BadInput) as info:
        validate_entry_gates({"required_production_approvals": 3})
    assert "`llmreg gates set gates.yaml`" in str(info.value)
    assert "configure gates" not in str(info.value)  # no such verb
