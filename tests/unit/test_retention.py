from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from llmreg.registry.errors import BadInput
from llmreg.registry.retention import RetentionPolicy, RetentionRule, plan_gc

NOW = datetime(2026, 12, 5, tzinfo=timezone.utc)


def ago(days):
    return NOW - timedelta(days=days)


# 1.0 -> 1.1 -> 1.2 -> 1.3 held production in prod, one after another; 1.3 holds it now.
HISTORY = [
    ("1.0.0", "prod", "production", ago(400), ago(300)),
    ("1.1.0", "prod", "production", ago(300), ago(200)),
    ("1.2.0", "prod", "production", ago(200), ago(20)),
    ("1.3.0", "prod", "production", ago(20), None),
    ("1.4.0", "prod", "staging", ago(2), None),
    ("0.9.0", "prod", "archived", ago(500), None),
]


@pytest.mark.parametrize("rule, removed", [
    (RetentionRule(keep_production_days=90, keep_last_production=1, keep_recent_days=0), ["0.9.0", "1.0.0", "1.1.0"]),
    (RetentionRule(keep_production_days=90, keep_last_production=3, keep_recent_days=0), ["0.9.0", "1.0.0"]),
    (RetentionRule(keep_production_days=250, keep_last_production=1, keep_recent_days=0), ["0.9.0", "1.0.0"]),
    (RetentionRule(keep_production_days=365, keep_last_production=1, keep_recent_days=0), ["0.9.0"]),
    (RetentionRule(keep_production_days=0, keep_last_production=0, keep_recent_days=0), ["0.9.0", "1.0.0", "1.1.0", "1.2.0"]),
])
def test_plan_removes_only_versions_outside_retention_holding_no_stage(rule, removed):
    plan = plan_gc(rule, HISTORY, NOW)
    assert list(plan.remove) == removed
    assert "1.3.0" in plan.kept and "1.4.0" in plan.kept  # hold production / staging: always kept
    assert not set(plan.remove) & set(plan.kept)


def test_each_kept_version_says_why():
    plan = plan_gc(RetentionRule(keep_production_days=90, keep_last_production=2, keep_recent_days=0), HISTORY, NOW)
    assert plan.kept["1.4.0"] == ("holds staging in prod",)
    assert any("held production in prod until" in r and "90 days" in r for r in plan.kept["1.2.0"])
    assert plan.kept["1.3.0"][0] == "holds production in prod"
    assert "one of the last 2 production versions in prod" in plan.kept["1.2.0"]


def test_last_k_is_counted_per_environment():
    history = HISTORY + [("1.0.0", "eu", "production", ago(400), ago(399)), ("1.3.0", "eu", "production", ago(399), None)]
    plan = plan_gc(RetentionRule(keep_production_days=0, keep_last_production=2, keep_recent_days=0), history, NOW)
    assert "1.0.0" in plan.kept and "one of the last 2 production versions in eu" in plan.kept["1.0.0"]


def test_recently_registered_versions_that_never_held_a_stage_are_kept_old_ones_collected():
    plan = plan_gc(RetentionRule(keep_production_days=0, keep_last_production=0, keep_recent_days=30), [], NOW,
                   registered={"2.0.0": ago(3), "0.1.0": "2025-01-01T00:00:00Z"})
    assert plan.remove == ("0.1.0",) and "registered" in plan.kept["2.0.0"][0]


def test_per_name_rule_inherits_unset_keys_and_may_only_keep_more():
    policy = RetentionPolicy.from_dict({"default": {"keep_production_days": 30, "keep_last_production": 1},
                                        "names": {"bot": {"keep_last_production": 5}}})
    rule, source = policy.rule_for("bot")
    assert (rule.keep_production_days, rule.keep_last_production, source) == (30, 5, "retention names.bot")
    assert policy.rule_for("other")[1] == "retention default"
    with pytest.raises(BadInput, match=r"retention.yaml: names.bot.keep_last_production: .*only keep more"):
        RetentionPolicy.from_dict({"default": {"keep_last_production": 3}, "names": {"bot": {"keep_last_production": 1}}},
                                  source="retention.yaml")


@pytest.mark.parametrize("data, field", [
    ({"default": {"keep_days": 3}}, "default.keep_days"),
    ({"default": {"keep_last_production": -1}}, "default.keep_last_production"),
    ({"names": {"bot": {"keep_production_days": "ten"}}}, "names.bot.keep_production_days"),
    ({"defaults": {}}, "defaults"),
])
def test_bad_policy_names_the_field(data, field):
    with pytest.raises(BadInput) as info:
        RetentionPolicy.from_dict(data)
    assert info.value.field == field and "\n" not in str(info.value)


def test_shared_digests_stay_when_a_kept_version_references_them_and_the_event_lists_the_plan():
    plan = plan_gc(RetentionRule(keep_production_days=0, keep_last_production=1, keep_recent_days=0), HISTORY, NOW)
    artifacts = {"1.0.0": ["a" * 64, "b" * 64], "1.1.0": ["b" * 64], "1.3.0": ["a" * 64, "c" * 64]}
    removable, shared = plan.digests_to_remove(artifacts)
    assert removable == {"b" * 64} and shared == {"a" * 64}
    data = plan.to_event_data(removable, dry_run=True)
    assert data["removed_versions"] == list(plan.remove) and data["removed_digests"] == ["b" * 64] and data["dry_run"]
    assert "1.3.0" in data["kept"] and "retention rule" in plan.summary()


def test_pinned_versions_are_kept_with_the_callers_reason_and_versions_sort_numerically():
    history = [("1.9.0", "prod", "production", ago(400), ago(300)), ("1.10.0", "prod", "production", ago(300), None),
               ("1.2.0", "prod", "production", ago(500), ago(400))]
    rule = RetentionRule(keep_production_days=0, keep_last_production=1, keep_recent_days=0)
    assert plan_gc(rule, history, NOW).remove == ("1.2.0", "1.9.0")
    plan = plan_gc(rule, history, NOW, pinned={"1.2.0": "configured rollback target for prod"})
    assert plan.remove == ("1.9.0",) and plan.kept["1.2.0"] == ("configured rollback target for prod",)
