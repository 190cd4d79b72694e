"""The transition matrix and every gate's pass and fail cases."""
from __future__ import annotations

import pytest

from llmreg.registry.errors import BadInput, Refused
from llmreg.registry.gates_config import GatesConfig
from llmreg.registry.lifecycle import (
    GATES,
    PROMOTABLE,
    STATUSES,
    PromotionContext,
    check_promotion,
    normalise_status,
    passed,
    rollback_target,
    summarize,
)

from .builders import make_entry, spec_dict

EVAL = {"suite": "triage-eval-v4", "score": 0.94, "run": "r1", "segments": {"en": 0.95, "es": 0.91}}


def ctx(target="staging", status=None, *, eval=EVAL, entry_gates=None, **kwargs):
    """A context whose entry is by alice; status defaults to the one the target needs."""
    overrides = {"eval": eval, "gates": entry_gates if entry_gates is not None else None}
    entry = make_entry(**overrides)
    default_status = {"staging": "development", "canary": "staging", "production": "canary", "archived": "retired"}[target]
    kwargs.setdefault("production_holder", "2.0.0" if target == "archived" else None)
    return PromotionContext(entry=entry, env="prod", target=target, actor="rm", current_status=status or default_status, **kwargs)


def gate(context, name):
    results = {r.gate: r for r in check_promotion(context)}
    return results[name]


# ---------------------------------------------------------------- transitions

# columns: development, staging, canary, production, retired, archived
MATRIX = {
    "staging": (1, 0, 0, 0, 0, 0),
    "canary": (0, 1, 0, 0, 0, 0),
    "production": (0, 0, 1, 0, 0, 0),
    "archived": (1, 1, 1, 0, 1, 0),
}


@pytest.mark.parametrize("target", PROMOTABLE)
@pytest.mark.parametrize("status", STATUSES)
def test_transition_matrix(target, status):
    result = gate(ctx(target, status, production_holder="2.0.0"), "transition")
    assert result.passed == bool(MATRIX[target][STATUSES.index(status)]), result.detail


@pytest.mark.parametrize(
    ("target", "status", "fragment"),
    [
        ("production", "staging", "production needs the version in canary, but 1.0.0 is staging in prod; promote it to canary first"),
        ("canary", "development", "promote it to staging first"),
        ("production", "production", "1.0.0 is already production in prod; nothing to promote"),
        ("staging", "retired", "restore it with rollback, not promote"),
        ("staging", "archived", "register a new version instead"),
        ("archived", "production", "holds production in prod; a replacement must hold production first"),
    ],
)
def test_transition_refusals_say_what_to_do(target, status, fragment):
    result = gate(ctx(target, status, production_holder="1.0.0" if status == "production" else "2.0.0"), "transition")
    assert not result.passed and fragment in result.detail


def test_archiving_needs_a_replacement_in_production():
    assert "nothing holds production" in gate(ctx("archived", "retired", production_holder=None), "transition").detail
    holder = gate(ctx("archived", "canary", production_holder="1.0.0"), "transition")  # projection says it holds production
    assert not holder.passed and "a replacement must hold production first" in holder.detail


def test_all_gates_are_evaluated_even_when_the_first_fails():
    results = check_promotion(ctx("production", "staging"))
    assert [r.gate for r in results] == list(GATES["production"]) == ["transition", "canary_slo", "production_approvals"]
    assert not any(r.passed for r in results)
    line = summarize(results)
    assert line.startswith("3 of 3 gates failed: transition: ") and "canary_slo: no canary_slo evidence" in line
    assert "\n" not in line


@pytest.mark.parametrize(("target", "field"), [("prod", "stage"), ("development", "stage"), (None, "stage")])
def test_bad_targets_are_bad_input(target, field):
    context = PromotionContext(entry=make_entry(), env="prod", target=target, actor="rm", current_status="development")
    with pytest.raises(BadInput) as info:
        check_promotion(context)
    assert info.value.field == field


def test_unknown_status_is_bad_input():
    with pytest.raises(BadInput, match="current_status"):
        check_promotion(ctx("staging", "draft"))


# ---------------------------------------------------------------- -> staging: eval >= threshold


@pytest.mark.parametrize(
    ("kwargs", "passes", "source"),
    [
        ({"suite_threshold": 0.9}, True, "suite triage-eval-v4 definition"),
        ({"suite_threshold": 0.94}, True, "suite triage-eval-v4 definition"),  # >= is inclusive
        ({"suite_threshold": 0.95}, False, "suite triage-eval-v4 definition"),
        # the registry's threshold is a floor: an entry's own counts only when stricter
        ({"suite_threshold": 0.9, "entry_gates": {"eval_threshold": 0.99}}, False, "entry gates.eval_threshold"),
        ({"suite_threshold": 0.9, "entry_gates": {"eval_threshold": 0.05}}, True, "suite triage-eval-v4 definition"),
        ({"eval": {**EVAL, "threshold": 0.05}, "gates": GatesConfig(eval_threshold=0.95)}, False, "gates.yaml eval_threshold"),
        ({"entry_gates": {"eval_threshold": 0.99}, "gates": GatesConfig(eval_threshold=0.5)}, False, "entry gates.eval_threshold"),
        ({"eval": {**EVAL, "threshold": 0.96}, "gates": GatesConfig(eval_threshold=0.5)}, False, "threshold recorded with the eval"),
        ({"gates": GatesConfig(eval_threshold=0.5, suite_thresholds={"triage-eval-v4": 0.97})}, False, "gates.yaml suite_thresholds.triage-eval-v4"),
        ({"gates": GatesConfig(eval_threshold=0.93, suite_thresholds={"other": 0.99})}, True, "gates.yaml eval_threshold"),
    ],
)
def test_eval_threshold_sources_in_precedence(kwargs, passes, source):
    result = gate(ctx("staging", **kwargs), "eval_threshold")
    assert result.passed is passes, result.detail
    assert result.evidence["threshold_source"] == source
    assert result.evidence["score"] == 0.94


def test_no_threshold_anywhere_says_where_to_set_it():
    result = gate(ctx("staging"), "eval_threshold")
    assert not result.passed
    assert result.detail == "no eval threshold known for suite triage-eval-v4: set `threshold` in the suite YAML or `eval_threshold` in gates.yaml"


def test_no_eval_at_all_fails_staging():
    result = gate(ctx("staging", eval=None, suite_threshold=0.9), "eval_threshold")
    assert not result.passed and "no eval result for support-triage@1.0.0" in result.detail


def test_newest_eval_record_wins_over_the_entry_eval():
    records = ({"suite": "triage-eval-v4", "score": 0.97, "seq": 9}, {"suite": "triage-eval-v4", "score": 0.5, "seq": 3})
    result = gate(ctx("staging", eval=None, suite_threshold=0.9, eval_records=records), "eval_threshold")
    assert result.passed and result.evidence["score"] == 0.97 and result.evidence["eval_source"] == "eval record seq 9"
    nested = ({"report": {"suite": "triage-eval-v4", "score": 0.85}, "seq": 4},)
    assert not gate(ctx("staging", suite_threshold=0.9, eval_records=nested), "eval_threshold").passed


def failed_report(**extra):
    """An eval record as the store projects evals/run.py's report: score above any threshold, fairness failed."""
    return ({"suite": "triage-eval-v4", "score": 0.96, "run": "r9", "seq": 7, "passed": False,
             "failed_checks": ["fairness"], **extra},)


def test_a_report_that_failed_its_own_suite_checks_does_not_pass_staging():
    result = gate(ctx("staging", eval=None, suite_threshold=0.9, eval_records=failed_report()), "eval_threshold")
    assert not result.passed
    assert "score 0.96 >= threshold 0.9" in result.detail
    assert "the eval report failed its own suite checks: fairness (eval record seq 7)" in result.detail
    assert "llmreg eval record support-triage@1.0.0" in result.detail
    assert result.evidence["report_passed"] is False and result.evidence["failed_checks"] == ["fairness"]


@pytest.mark.parametrize(
    ("record", "passes", "fragment"),
    [
        ({"passed": True, "failed_checks": []}, True, ">= threshold 0.9"),
        ({"passed": True, "failed_checks": ["latency"]}, False, "failed its own suite checks: latency"),  # contradicting: the checks win
        ({"failed_checks": ["safety", "cost"]}, False, "failed its own suite checks: safety, cost"),
        ({"passed": False}, False, "failed its own suite checks: unnamed"),
        ({}, True, ">= threshold 0.9"),  # a report that states no verdict is judged on its score, as before
    ],
)
def test_report_verdicts(record, passes, fragment):
    records = ({"suite": "triage-eval-v4", "score": 0.96, "seq": 2, **record},)
    result = gate(ctx("staging", eval=None, suite_threshold=0.9, eval_records=records), "eval_threshold")
    assert result.passed is passes, result.detail
    assert fragment in result.detail


def test_failed_checks_are_named_next_to_a_low_score_and_a_missing_threshold():
    low = gate(ctx("staging", eval=None, suite_threshold=0.99, eval_records=failed_report()), "eval_threshold")
    assert "is below threshold 0.99" in low.detail and "failed its own suite checks: fairness" in low.detail
    none = gate(ctx("staging", eval=None, eval_records=failed_report()), "eval_threshold")
    assert "no eval threshold known" in none.detail and "also the eval report failed its own suite checks: fairness" in none.detail


def test_only_the_newest_report_verdict_counts():
    older_failed = failed_report()
    newer_passed = ({"suite": "triage-eval-v4", "score": 0.95, "seq": 8, "passed": True, "failed_checks": []},)
    assert gate(ctx("staging", eval=None, suite_threshold=0.9, eval_records=older_failed + newer_passed), "eval_threshold").passed
    newer_failed = failed_report(seq=9)
    assert not gate(ctx("staging", eval=None, suite_threshold=0.9, eval_records=newer_passed + newer_failed), "eval_threshold").passed


def test_eval_record_without_a_number_fails_clearly():
    result = gate(ctx("staging", suite_threshold=0.9, eval_records=({"suite": "s", "score": "high", "seq": 1},)), "eval_threshold")
    assert not result.passed and "has no numeric score" in result.detail


# ---------------------------------------------------------------- -> canary: review + fairness


def review(actor, decision, seq, notes=""):
    return {"actor": actor, "decision": decision, "notes": notes, "seq": seq}


@pytest.mark.parametrize(
    ("reviews", "passes", "fragment"),
    [
        ((), False, "no review yet; a reviewer other than the author (alice) must approve"),
        ((review("alice", "approve", 1),), False, "the author (alice) cannot review their own release"),
        ((review("bob", "approve", 1),), True, "approved by bob"),
        ((review("alice", "approve", 1), review("bob", "approve", 2)), True, "approved by bob"),
        ((review("bob", "approve", 1), review("carol", "reject", 2, "segment es regressed")), False, "rejected by carol (segment es regressed)"),
        ((review("carol", "reject", 5), review("bob", "approve", 2)), False, "rejected by carol"),  # order by seq, not position
        ((review("bob", "approve", 1), review("bob", "reject", 2)), False, "rejected by bob"),
        ((review("bob", "reject", 1), review("bob", "approve", 2)), True, "approved by bob"),  # the reviewer changed their mind
        ((review("carol", "reject", 1), review("bob", "approve", 2)), False, "a rejection stands until that reviewer approves"),
        ((review("bob", "approve", 1), review("alice", "reject", 2)), False, "rejected by alice"),  # the author can withdraw
        ((review("bob", "comment", 1),), False, "no review yet"),
    ],
)
def test_review_gate(reviews, passes, fragment):
    result = gate(ctx("canary", reviews=reviews), "review")
    assert result.passed is passes
    assert fragment in result.detail


@pytest.mark.parametrize(
    ("segments", "kwargs", "passes", "fragment"),
    [
        ({"en": 0.95, "es": 0.91}, {}, True, "segment gap 0.040 (es 0.91 .. en 0.95) <= bound 0.1 (built-in default)"),
        ({"en": 0.95, "es": 0.91}, {"gates": GatesConfig(fairness_max_gap=0.1)}, True, "<= bound 0.1 (gates.yaml fairness_max_gap)"),
        # the registered suite's fairness.max_gap: over gates.yaml; an entry's own bound only when tighter
        ({"en": 0.95, "es": 0.91}, {"suite_fairness_max_gap": 0.03, "suite_ref": "triage-eval-v4@4.0.0",
                                    "gates": GatesConfig(fairness_max_gap=0.2)}, False,
         "exceeds bound 0.03 (suite triage-eval-v4@4.0.0 fairness.max_gap)"),
        ({"en": 0.95, "es": 0.80}, {"suite_fairness_max_gap": 0.03, "entry_gates": {"fairness_max_gap": 0.2}}, False,
         "exceeds bound 0.03 (suite definition fairness.max_gap)"),
        ({"en": 0.95, "es": 0.80}, {}, False, "segment gap 0.150 (es 0.8 .. en 0.95) exceeds bound 0.1"),
        ({"a": 0.8, "b": 0.7}, {}, True, "<= bound 0.1"),  # 0.8 - 0.7 == 0.10000000000000009 in floats: still at the bound
        ({"a": 0.7, "b": 0.6, "c": 0.8}, {"gates": GatesConfig(fairness_max_gap=0.19)}, False, "exceeds bound 0.19"),
        ({"en": 0.95, "es": 0.91}, {"entry_gates": {"fairness_max_gap": 0.03}}, False, "exceeds bound 0.03 (entry gates.fairness_max_gap)"),
        ({"en": 0.95, "es": 0.80}, {"entry_gates": {"fairness_max_gap": 0.2}}, False, "exceeds bound 0.1 (built-in default)"),
        ({}, {}, False, "cannot assess fairness: entry eval has 0 segment scores; need scores for at least 2 segments"),
        ({"en": 0.9}, {}, False, "entry eval has 1 segment score;"),
    ],
)
def test_fairness_gate(segments, kwargs, passes, fragment):
    result = gate(ctx("canary", eval={**EVAL, "segments": segments}, **kwargs), "fairness")
    assert result.passed is passes, result.detail
    assert fragment in result.detail


def test_fairness_without_any_eval_fails():
    result = gate(ctx("canary", eval=None), "fairness")
    assert not result.passed and "cannot assess fairness: no eval" in result.detail


def test_canary_passes_with_review_and_fairness():
    results = check_promotion(ctx("canary", reviews=(review("bob", "approve", 1),)))
    assert passed(results) and summarize(results) == "all 3 gates passed: transition, review, fairness"


# ---------------------------------------------------------------- -> production: SLO + approvals


def slo(seq, **data):
    return {"kind": "canary_slo", "data": data, "actor": "system:slo-guard", "seq": seq}


GOOD = {"error_rate": 0.004, "p99_ms": 640, "calls": 1200}


@pytest.mark.parametrize(
    ("evidence", "kwargs", "passes", "fragment"),
    [
        ((slo(3, **GOOD),), {}, True, "canary SLO met: error_rate 0.004 <= 0.02, p99 640ms <= 2000ms, 1200 calls >= 100 (evidence seq 3)"),
        ((), {}, False, "no canary_slo evidence for support-triage@1.0.0 in prod"),
        (({"kind": "latency", "data": GOOD, "seq": 1},), {}, False, "no canary_slo evidence"),
        ((slo(3, **{**GOOD, "error_rate": 0.05}),), {}, False, "canary SLO not met: error_rate 0.05 > 0.02 (evidence seq 3)"),
        ((slo(3, **{**GOOD, "p99_ms": 2500}),), {}, False, "p99 2500ms > 2000ms"),
        ((slo(3, **{**GOOD, "calls": 42}),), {}, False, "only 42 calls < 100"),
        ((slo(3, error_rate=0.05, p99_ms=2500, calls=42),), {}, False, "error_rate 0.05 > 0.02; p99 2500ms > 2000ms; only 42 calls < 100"),
        ((slo(3, p99_ms=10, calls=500),), {}, False, "error_rate not reported"),
        ((slo(3, **{**GOOD, "calls": "many"}),), {}, False, "calls not reported"),
        ((slo(3, **GOOD),), {"gates": GatesConfig(canary_slo={"min_eval_score": 0.9})}, False, "eval_score not reported"),
        ((slo(3, **GOOD, eval_score=0.85),), {"gates": GatesConfig(canary_slo={"min_eval_score": 0.9})}, False, "eval_score 0.85 < 0.9"),
        ((slo(3, **GOOD, eval_score=0.93),), {"gates": GatesConfig(canary_slo={"min_eval_score": 0.9})}, True, "eval_score 0.93 >= 0.9"),
        ((slo(3, **GOOD),), {"entry_gates": {"canary_slo": {"max_p99_ms": 600}}}, False, "p99 640ms > 600ms"),
        ((slo(3, **GOOD),), {"entry_gates": {"canary_slo": {"min_calls": 2000}}}, False, "only 1200 calls < 2000"),
        ((slo(9, **GOOD), slo(3, error_rate=0.5, p99_ms=1, calls=1)), {}, True, "(evidence seq 9)"),  # newest by seq wins
        ((slo(3, **GOOD), slo(9, error_rate=0.5, p99_ms=1, calls=1)), {}, False, "(evidence seq 9)"),
    ],
)
def test_canary_slo_gate(evidence, kwargs, passes, fragment):
    result = gate(ctx("production", evidence=evidence, **kwargs), "canary_slo")
    assert result.passed is passes, result.detail
    assert fragment in result.detail


def approval(actor, seq, stage="production"):
    return {"actor": actor, "stage": stage, "seq": seq}


@pytest.mark.parametrize(
    ("approvals", "kwargs", "passes", "fragment"),
    [
        ((approval("bob", 1), approval("carol", 2)), {}, True, "2 of 2 distinct non-author approvals: bob, carol"),
        ((approval("bob", 1),), {}, False, "1 of 2 distinct approvals for production (have: bob); need 1 more from someone other than the author"),
        ((), {}, False, "0 of 2 distinct approvals for production (have: none)"),
        ((approval("alice", 1), approval("bob", 2)), {}, False, "the author alice cannot approve their own release"),
        ((approval("bob", 1), approval("bob", 2)), {}, False, "bob approved more than once (counted once)"),
        ((approval("bob", 1, "canary"), approval("carol", 2)), {}, False, "1 of 2"),
        ((approval("bob", 1), approval("carol", 2)), {"gates": GatesConfig(required_production_approvals=3)}, False, "2 of 3"),
        ((approval("bob", 1), approval("carol", 2), approval("alice", 3)), {}, True, "the author alice cannot approve"),
    ],
)
def test_production_approvals_gate(approvals, kwargs, passes, fragment):
    result = gate(ctx("production", approvals=approvals, **kwargs), "production_approvals")
    assert result.passed is passes, result.detail
    assert fragment in result.detail


def test_production_passes_with_clean_canary_and_two_approvers():
    results = check_promotion(ctx("production", evidence=(slo(3, **GOOD),), approvals=(approval("bob", 4), approval("carol", 5))))
    assert passed(results), summarize(results)


# ---------------------------------------------------------------- -> archived


@pytest.mark.parametrize(
    ("checklist", "evidence", "passes", "fragment"),
    [
        ((), (), True, "no archival checklist configured"),
        (("traffic drained", "owner notified"), (), False, "traffic drained, owner notified not done"),
        (("traffic drained", "owner notified"), ({"kind": "archive_checklist", "data": {"traffic drained": True, "owner notified": "yes"}, "seq": 1},), False, "owner notified not done"),
        (("traffic drained",), ({"kind": "archive_checklist", "data": {"traffic drained": True}, "seq": 1},), True, "complete (1 items)"),
    ],
)
def test_archive_checklist_gate(checklist, evidence, passes, fragment):
    result = gate(ctx("archived", gates=GatesConfig(archive_checklist=checklist), evidence=evidence), "archive_checklist")
    assert result.passed is passes and fragment in result.detail


# ---------------------------------------------------------------- helpers


def test_gate_results_serialise_to_plain_dicts():
    from llmreg.registry.canonical import canonical_json

    import json

    results = list(check_promotion(ctx("canary", reviews=(review("bob", "approve", 1),))))
    assert results
    for result in results:
        data = json.loads(canonical_json(result.to_dict()))  # hashable into an event without conversion
        assert (data["gate"], data["passed"]) == (result.gate, result.passed)


@pytest.mark.parametrize(
    ("history", "current", "to", "expected"),
    [
        (["1.0.0", "1.1.0", "2.0.0"], "2.0.0", None, "1.1.0"),
        (["1.0.0", "1.1.0", "2.0.0"], "2.0.0", "1.0.0", "1.0.0"),
        (["1.0.0", "2.0.0", "1.0.0"], "1.0.0", None, "2.0.0"),
    ],
)
def test_rollback_target(history, current, to, expected):
    assert rollback_target(history, current, to) == expected


@pytest.mark.parametrize(
    ("history", "current", "to", "fragment"),
    [
        (["1.0.0"], "1.0.0", None, "no earlier production version"),
        (["1.0.0", "2.0.0"], "2.0.0", "1.5.0", "1.5.0 never held production in this environment (held: 1.0.0, 2.0.0)"),
        (["1.0.0", "2.0.0"], "2.0.0", "2.0.0", "already holds production"),
    ],
)
def test_rollback_target_refusals(history, current, to, fragment):
    with pytest.raises(Refused, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        rollback_target(history, current, to)


@pytest.mark.parametrize(("value", "expected"), [("draft", "development"), ("Production", "production"), ("retired", "retired")])
def test_normalise_status(value, expected):
    assert normalise_status(value) == expected


def test_normalise_status_refuses_unknown():
    with pytest.raises(BadInput, match="did you mean 'staging'"):
        normalise_status("stagign")


def test_context_builder_uses_the_spec_gates():
    assert spec_dict()["gates"]["fairness_max_gap"] == 0.05
    assert gate(ctx("canary", entry_gates={"fairness_max_gap": 0.05}), "fairness").evidence["bound"] == 0.05


# ---------------------------------------------------------------- refusals name real commands

# One failing context per gate whose refusal points at a command.
FAILING = [
    ctx("staging", eval=None),  # eval_threshold: no eval
    ctx("canary"),  # review: none yet
    ctx("canary", reviews=({"actor": "alice", "decision": "approve", "seq": 1},)),  # review: author only
    ctx("production"),  # canary_slo + production_approvals
    ctx("archived", gates=GatesConfig(archive_checklist=("traffic drained",))),  # archive checklist
    ctx("production", "staging"),  # transition: promote to canary first
    ctx("staging", "retired"),  # transition: restore with rollback
]


def suggested_commands(context) -> list[str]:
    return [detail.split("(llmreg ", 1)[1].split(")", 1)[0] for detail in (r.detail for r in check_promotion(context) if not r.passed) if "(llmreg " in detail]


def test_every_refusal_names_a_command_the_cli_parses():
    from llmreg.cli import build_parser

    commands = [command for context in FAILING for command in suggested_commands(context)]
    verbs = sorted({command.split()[0] for command in commands})
    assert verbs == ["approve", "eval", "evidence", "promote", "review", "rollback"], commands
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(command.split())  # raises UsageError on a flag llmreg does not have
        assert getattr(args, "env", "prod") == "prod", command


def test_production_approval_refusal_spells_the_approve_flags():
    detail = gate(ctx("production"), "production_approvals").detail
    assert "(llmreg approve support-triage@1.0.0 --to production --env prod)" in detail
    assert "--stage" not in detail
