from __future__ import annotations

import pytest

from llmreg.registry.drift import Baseline, DriftPolicy, DriftRule, Observed, judge
from llmreg.registry.errors import BadInput

SLO = DriftRule(max_error_rate=0.02, max_p99_ms=1500, min_calls=100)


@pytest.mark.parametrize("rule, baseline, observed, flagged, says", [
    (DriftRule(), Baseline(0.90, 0.03), Observed(score=0.88), False, "score 0.88 vs certified 0.9"),
    (DriftRule(), Baseline(0.90, 0.03), Observed(score=0.85), True, "drop 0.05, tolerance 0.03"),
    (DriftRule(score_tolerance=0.1), Baseline(0.90, 0.03), Observed(score=0.85), False, "tolerance 0.1"),
    (DriftRule(), Baseline(0.90, None), Observed(score=0.10), False, "no tolerance"),
    (SLO, Baseline(), Observed(error_rate=0.05, p99_ms=900, calls=500), True, "error rate 0.05 over 500 calls (max 0.02)"),
    (SLO, Baseline(), Observed(error_rate=0.01, p99_ms=2100, calls=500), True, "p99 2100 ms (max 1500 ms)"),
    (SLO, Baseline(), Observed(error_rate=0.50, p99_ms=9000, calls=20), False, "20 calls in the 60-minute window"),
    (SLO, Baseline(), Observed(error_rate=0.01, p99_ms=900, calls=500), False, "p99 900 ms"),
])
def test_judge(rule, baseline, observed, flagged, says):
    verdict = judge(rule, baseline, observed)
    assert verdict.flagged is flagged
    assert says in verdict.summary()
    assert bool(verdict.reasons) is flagged


def test_every_breach_is_a_reason_and_the_event_data_carries_them():
    rule = DriftRule(max_error_rate=0.02, max_p99_ms=1500, min_calls=10, action="rollback")
    verdict = judge(rule, Baseline(0.9, 0.02), Observed(score=0.5, error_rate=0.1, p99_ms=5000, calls=50))
    assert len(verdict.reasons) == 3 and verdict.action == "rollback"
    data = verdict.to_event_data("bot", "1.2.0", "prod")
    assert data["reasons"] == list(verdict.reasons) and data["action"] == "rollback"


@pytest.mark.parametrize("data, field", [
    ({"default": {"action": "page"}}, "default.action"),
    ({"default": {"max_p99_ms": 0}}, "default.max_p99_ms"),
    ({"names": {"bot": {"max_error_rate": 2}}}, "names.bot.max_error_rate"),
    ({"default": {"window": 5}}, "default.window"),
])
def test_bad_rule_names_the_field(data, field):
    with pytest.raises(BadInput) as info:
        DriftPolicy.from_dict(data)
    assert info.value.field == field


def test_per_name_rule_inherits_the_default():
    policy = DriftPolicy.from_dict({"default": {"max_error_rate": 0.05}, "names": {"bot": {"max_p99_ms": 800}}})
    rule, source = policy.rule_for("bot")
    assert (rule.max_error_rate, rule.max_p99_ms, source) == (0.05, 800.0, "drift rule for bot")
