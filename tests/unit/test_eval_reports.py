"""Eval reports as the registry reads them: verdict and what was evaluated (evals/run.py's shape)."""
from __future__ import annotations

import pytest

from llmreg.registry.errors import BadInput
from llmreg.registry.eval_reports import check_verdict, normalise_eval_report, report_verdict, target_mismatches

from .builders import SHA_A, SHA_B, SHA_C, make_spec

SHA_D = "d" * 64
# evals/run.py EvalReport.to_dict(), trimmed to the keys the registry reads
RUN_REPORT = {
    "run_id": "r-17",
    "suite": {"name": "asr-eval", "version": "2.0.0", "threshold": 0.88},
    "accuracy": 0.92,
    "segment_scores": {"en-US": 0.96, "en-IN": 0.85},
    "fairness_gap": 0.11,
    "passed": False,
    "failed_checks": ["fairness"],
    "checks": {"accuracy": {"passed": True}, "fairness": {"passed": False}},
}


def test_normalised_form_is_the_eval_ref():
    assert normalise_eval_report(RUN_REPORT) == {
        "suite": "asr-eval", "suite_version": "2.0.0", "score": 0.92, "run": "r-17", "threshold": 0.88,
        "segments": {"en-US": 0.96, "en-IN": 0.85},
    }


@pytest.mark.parametrize(
    ("report", "verdict"),
    [
        (RUN_REPORT, {"passed": False, "failed_checks": ["fairness"]}),
        ({**RUN_REPORT, "passed": True, "failed_checks": []}, {"passed": True}),
        ({"passed": True, "failed_checks": ["cost"]}, {"passed": False, "failed_checks": ["cost"]}),
        ({"checks": {"latency": {"passed": False}, "accuracy": {"passed": True}}}, {"passed": False, "failed_checks": ["latency"]}),
        ({"suite": "s", "score": 0.9}, {}),  # an EvalRef-shaped report states no verdict
        ("not a mapping", {}),
    ],
)
def test_report_verdict(report, verdict):
    assert report_verdict(report) == verdict


@pytest.mark.parametrize(
    ("report", "field"),
    [({"passed": "yes"}, "report.passed"), ({"failed_checks": "fairness"}, "report.failed_checks"),
     ({"failed_checks": [1]}, "report.failed_checks")],
)
def test_verdicts_that_could_be_misread_are_bad_input(report, field):
    with pytest.raises(BadInput) as info:
        check_verdict(report)
    assert info.value.field == field


# builders' FULL_SPEC: model sha256 SHA_A, adapter artifact SHA_C, tokenizer artifact SHA_B
@pytest.mark.parametrize(
    ("target", "fragments"),
    [
        ({"base_model_sha256": SHA_A, "adapter_sha256": SHA_C, "runner": "transformers"}, []),
        ({"base_sha256": SHA_A, "adapter_sha256": SHA_C.upper()}, []),  # digests compare case-insensitively
        ({"adapter_sha256": SHA_D}, [f"report.target.adapter_sha256 {SHA_D} does not match the version's adapter artifact 'adapter' sha256 {SHA_C}"]),
        ({"base_model_sha256": SHA_D}, [f"report.target.base_model_sha256 {SHA_D} does not match the version's model 'acme/tiny-llama' sha256 {SHA_A}"]),
        ({"sha256": SHA_B}, []),  # a generic digest may name any pinned part
        ({"sha256": SHA_D}, ["report.target.sha256"]),
        ({"adapter": None, "adapter_sha256": None, "base_model_sha256": SHA_A}, ["evaluated without an adapter", "adapter artifact 'adapter'"]),
        ({"model": "gpt-4o-2024-11-20", "snapshots": ["gpt-4o-2024-11-20"]}, []),  # a provider target carries no digests
        ({}, []),
    ],
)
def test_target_mismatches_name_the_artifact(target, fragments):
    found = target_mismatches(make_spec(), {**RUN_REPORT, "target": target})
    assert len(found) == (1 if fragments else 0), found
    for fragment in fragments:
        assert fragment in found[0]


def test_a_version_without_that_part_is_compared_with_everything_it_pins():
    no_adapter = make_spec(artifacts=None)
    (line,) = target_mismatches(no_adapter, {"target": {"adapter_sha256": SHA_D}})
    assert "matches nothing the version pins (no adapter; it pins model 'acme/tiny-llama' sha256" in line
    hosted = make_spec(model="gpt-5-mini-2026-06-01", artifacts=None)
    assert target_mismatches(hosted, {"target": {"adapter_sha256": SHA_D}}) == []  # nothing pinned to contradict


def test_a_malformed_target_digest_is_bad_input():
    with pytest.raises(BadInput) as info:
        target_mismatches(make_spec(), {"target": {"adapter_sha256": "abc"}})
    assert info.value.field == "report.target.adapter_sha256"
