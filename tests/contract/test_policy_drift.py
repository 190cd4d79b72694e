"""The approval policy in the production gate (and its audit replay) and drift flags, through the
Python API on every store backend."""
from __future__ import annotations

import pytest

from contract import scenario as sc
from llmreg.registry import events as ev
from llmreg.registry.drift import Observed
from llmreg.registry.errors import BadInput, Forbidden, GateFailed, Refused
from llmreg.registry.roles import Roles

OWNER_ROLE = "support-triage-owner"
ROLES = Roles.default(members={
    "admin": ["admin"], "alice": ["developer"], "ci": ["release-manager"], "release-bot": ["release-manager"],
    "bob": ["reviewer"], "carol": ["reviewer"], "system:slo-guard": ["slo-guard"],
}).to_dict()
ROLES["roles"][OWNER_ROLE] = ["read", "approve:production"]  # roles are registry-wide: the name is in the role
ROLES["members"]["dana"] = [OWNER_ROLE]
OWNED = {"names": {sc.NAME: {"required_roles": {OWNER_ROLE: 1, "reviewer": 1}}}}


def _to_approvals(reg, version: str, env: str = "default", *, name: str = sc.NAME) -> None:
    sc.to_canary(reg, version, env, name=name)
    reg.record_evidence(name, version, env, "canary_slo", sc.SLO_OK, actor="system:slo-guard")


def test_a_per_name_policy_asks_for_an_owner_and_a_reviewer(reg):
    sc.configure(reg)
    reg.configure_roles(ROLES, actor="admin")
    event = reg.configure_approval_policy(OWNED, actor="admin")
    assert event.type == ev.CONFIG_APPROVALS and event.signer
    version = reg.register(sc.spec(), actor=sc.AUTHOR).version
    _to_approvals(reg, version)
    reg.approve(sc.NAME, version, actor="bob")
    reg.approve(sc.NAME, version, actor="carol")
    with pytest.raises(GateFailed) as refused:  # two reviewers: enough approvals, no owner among them
        reg.promote(sc.NAME, version, "production", actor="release-bot")
    text = str(refused.value)
    assert f"need 1 more approver(s) holding {OWNER_ROLE}" in text
    assert (f"(policy: approval policy for {sc.NAME}: 2 approvals from distinct keys, the author excluded, "
            f"including 1 reviewer and 1 {OWNER_ROLE})") in text
    reg.approve(sc.NAME, version, actor="dana")
    promoted = reg.promote(sc.NAME, version, "production", actor="release-bot")
    (gate,) = [g for g in promoted.evidence["gates"] if g["gate"] == "production_approvals"]
    assert gate["detail"].startswith("3 of 2 distinct non-author approvals: bob, carol, dana")
    assert f"approval policy for {sc.NAME}" in reg.card(sc.NAME, version)
    # another name keeps the registry default: two reviewers are enough there
    other = reg.register(sc.spec(name="other-bot"), actor=sc.AUTHOR).version
    sc.to_production(reg, other, name="other-bot")
    assert reg.resolve("other-bot").version == other
    from llmreg.registry.audit_check import verify_store

    report = verify_store(reg.store)
    assert report.ok, report.reason


def test_the_audit_replays_each_promotion_under_the_policy_in_force_then(reg):
    """Promoted under the default; a stricter policy configured later must not fail the replay,
    and the stricter policy must judge promotions after it."""
    from llmreg.registry.audit_check import verify_store

    sc.configure(reg)
    reg.configure_roles(ROLES, actor="admin")
    first = reg.register(sc.version_n(1), actor=sc.AUTHOR).version
    sc.to_production(reg, first)  # bob + carol: the default
    reg.configure_approval_policy(OWNED, actor="admin")
    second = reg.register(sc.version_n(2), actor=sc.AUTHOR).version
    _to_approvals(reg, second)
    for who in ("bob", "dana"):
        reg.approve(sc.NAME, second, actor=who)
    reg.promote(sc.NAME, second, "production", actor="release-bot")
    report = verify_store(reg.store)
    assert report.ok, report.reason


def test_the_audit_catches_a_promotion_the_policy_in_force_refused(reg):
    """A promotion written past the gate (an importer that skipped it) fails the replay because the
    policy then asked for an owner: the replay judges with what was in force, not with the default."""
    from llmreg.registry.audit_check import verify_store

    sc.configure(reg)
    reg.configure_roles(ROLES, actor="admin")
    reg.configure_approval_policy(OWNED, actor="admin")
    version = reg.register(sc.spec(), actor=sc.AUTHOR).version
    _to_approvals(reg, version)
    reg.approve(sc.NAME, version, actor="bob")
    reg.approve(sc.NAME, version, actor="carol")
    with reg.store.unit_of_work() as uow:  # what a writer bypassing the gate would append
        uow.key = reg.keys.key_for("release-bot")
        uow.append(ev.STAGE_PROMOTED, actor="release-bot", name=sc.NAME, version=version, env="default",
                   payload={"stage": "production"})
    report = verify_store(reg.store, projection=False)
    assert not report.ok
    assert f"need 1 more approver(s) holding {OWNER_ROLE}" in report.reason


def test_a_name_cannot_loosen_the_default_and_nothing_is_written(reg):
    head = reg.head_seq()
    with pytest.raises(BadInput, match=r"names\.support-triage.*author_may_approve: true loosens"):
        reg.configure_approval_policy({"names": {sc.NAME: {"author_may_approve": True}}}, actor="admin")
    with pytest.raises(BadInput, match="required"):
        reg.configure_approval_policy({"default": {"required": 1}}, actor="admin")
    assert reg.head_seq() == head


def test_the_author_refusal_states_the_policy_and_a_policy_may_let_the_author_count(reg):
    sc.configure(reg)
    version = reg.register(sc.spec(), actor=sc.AUTHOR).version
    _to_approvals(reg, version)
    with pytest.raises(Refused, match=r"policy: registry default approval policy: 2 approvals from distinct keys, "
                                      r"the author excluded"):
        reg.approve(sc.NAME, version, actor=sc.AUTHOR)
    reg.configure_approval_policy({"default": {"author_may_approve": True}}, actor="admin")
    reg.approve(sc.NAME, version, actor=sc.AUTHOR)
    reg.approve(sc.NAME, version, actor="bob")
    promoted = reg.promote(sc.NAME, version, "production", actor="release-bot")
    (gate,) = [g for g in promoted.evidence["gates"] if g["gate"] == "production_approvals"]
    assert gate["detail"].startswith(f"2 of 2 distinct approvals: {sc.AUTHOR}, bob")


def test_gates_yaml_count_stays_a_floor_under_the_policy(reg):
    reg.configure_gates({"eval_threshold": 0.9, "required_production_approvals": 3}, actor="admin")
    reg.configure_approval_policy({"default": {"required": 2}}, actor="admin")
    rule, source = reg.approval_rule(sc.NAME)
    assert rule.required == 3 and "gates.yaml required_production_approvals" in source


# ---------------------------------------------------------------------- drift


def _observed(score=None, error_rate=None, p99=None, calls=0):
    return lambda entry, env, rule: Observed(score=score, error_rate=error_rate, p99_ms=p99, calls=calls)


def test_a_score_drop_beyond_tolerance_is_flagged_and_signed(reg):
    sc.configure(reg)
    version = reg.register(sc.spec(), actor=sc.AUTHOR).version  # certified at 0.94
    sc.to_production(reg, version)
    head = reg.head_seq()
    within = reg.drift_check(_observed(score=0.93))  # drop 0.01 <= the default tolerance 0.02
    assert not within.flagged and within.events == () and reg.head_seq() == head
    report = reg.drift_check(_observed(score=0.85))
    (event,) = report.events
    assert event.type == ev.VERSION_FLAGGED and event.actor == "system:drift-monitor" and event.signer
    assert (event.name, event.version, event.env, event.payload["action"]) == (sc.NAME, version, "default", "flag")
    assert "score 0.85 vs certified 0.94" in event.payload["reasons"][0]
    assert reg.resolve(sc.NAME).version == version  # a flag moves nothing
    assert [e.seq for e in reg.flags(sc.NAME)] == [event.seq]
    assert "drift, flag: score 0.85" in reg.card(sc.NAME, version)


def test_serving_bounds_default_to_the_canary_slo_and_need_enough_calls(reg):
    sc.configure(reg)
    version = reg.register(sc.spec(), actor=sc.AUTHOR).version
    sc.to_production(reg, version)
    few = reg.drift_check(_observed(error_rate=0.5, p99=100, calls=10))  # under min_calls (100)
    assert not few.flagged and "serving SLO not judged" in few.findings[0].verdict.checked[0]
    many = reg.drift_check(_observed(error_rate=0.03, p99=100, calls=500))  # gates' canary SLO: 0.02
    assert "error rate 0.03 over 500 calls (max 0.02)" in many.events[0].payload["reasons"]


def test_a_rule_with_action_rollback_rolls_back_after_the_flag(reg):
    sc.configure(reg)
    first = reg.register(sc.version_n(1), actor=sc.AUTHOR).version
    sc.to_production(reg, first)
    second = reg.register(sc.version_n(2), actor=sc.AUTHOR).version
    sc.to_production(reg, second)
    reg.configure_drift_policy({"names": {sc.NAME: {"score_tolerance": 0.01, "action": "rollback"}}}, actor="admin")
    report = reg.drift_check(_observed(score=0.9), name=sc.NAME)
    (flag,) = report.events
    assert flag.payload["action"] == "rollback"
    assert report.rollbacks[0]["to"] == first and reg.resolve(sc.NAME).version == first
    (rolled,) = reg.events(name=sc.NAME, types=[ev.STAGE_ROLLED_BACK])
    assert f"flag #{flag.seq}" in rolled.payload["reason"] and rolled.actor == "system:drift-monitor"


def test_the_drift_monitor_needs_its_role(reg):
    sc.configure(reg)
    version = reg.register(sc.spec(), actor=sc.AUTHOR).version
    sc.to_production(reg, version)
    roles = Roles.default(members={"admin": ["admin"]}).to_dict()
    roles["members"].pop("system:drift-monitor")
    reg.configure_roles(roles, actor="admin")
    with pytest.raises(Forbidden, match="system:drift-monitor"):
        reg.drift_check(_observed(score=0.5))
    assert reg.flags() == []
    (refusal,) = reg.events(types=[ev.ACTION_REFUSED])
    assert refusal.actor == "system:drift-monitor"
    reg.configure_roles(Roles.default(members={"admin": ["admin"]}).to_dict(), actor="admin")
    assert len(reg.drift_check(_observed(score=0.5)).events) == 1


def test_bad_drift_policy_is_one_line_and_writes_nothing(reg):
    head = reg.head_seq()
    with pytest.raises(BadInput, match="action"):
        reg.configure_drift_policy({"default": {"action": "delete"}}, actor="admin")
    assert reg.head_seq() == head and reg.drift_policy().default.action == "flag"


def test_a_names_policy_adds_archive_checklist_items(reg):
    sc.configure(reg)
    reg.configure_gates({"eval_threshold": 0.9, "archive_checklist": ["downstream_notified"]}, actor="admin")
    reg.configure_approval_policy({"names": {sc.NAME: {"archive_checklist": ["artifacts_retained"]}}}, actor="admin")
    first = reg.register(sc.version_n(1), actor=sc.AUTHOR).version
    sc.to_production(reg, first)
    sc.to_production(reg, reg.register(sc.version_n(2), actor=sc.AUTHOR).version)
    reg.record_evidence(sc.NAME, first, "default", "archive_checklist", {"downstream_notified": True}, actor="dana")
    with pytest.raises(GateFailed, match="archival checklist incomplete: artifacts_retained not done"):
        reg.archive(sc.NAME, first, actor="release-bot")
    reg.record_evidence(sc.NAME, first, "default", "archive_checklist",
                        {"downstream_notified": True, "artifacts_retained": True}, actor="dana")
    assert reg.archive(sc.NAME, first, actor="release-bot").type == ev.STAGE_ARCHIVED
