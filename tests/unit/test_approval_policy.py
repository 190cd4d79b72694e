from __future__ import annotations

import pytest

from llmreg.registry.approval_policy import (
    Approval,
    ApprovalPolicy,
    ApprovalRule,
    check_archive_checklist,
    evaluate,
)
from llmreg.registry.errors import BadInput

ROLES = {"olga": {"owner"}, "rita": {"reviewer"}, "both": {"owner", "reviewer"}, "bob": set(), "carl": set(),
         "alice": {"owner"}}


def roles_of(actor):
    return ROLES.get(actor, set())


DEFAULT = ApprovalRule()
OWNER_AND_REVIEWER = ApprovalRule(required_roles={"owner": 1, "reviewer": 1})


@pytest.mark.parametrize("rule, approvals, ok, says", [
    # today's rule: 2 distinct non-author approvals
    (DEFAULT, ["bob", "carl"], True, "approved by bob, carl"),
    (DEFAULT, ["bob"], False, "1 of 2 approvals (have: bob)"),
    (DEFAULT, ["alice", "bob"], False, "the author alice cannot approve their own release"),
    (DEFAULT, ["bob", "bob"], False, "bob approved more than once (counted once)"),
    (ApprovalRule(author_may_approve=True), ["alice", "bob"], True, "approved by alice, bob"),
    (ApprovalRule(required=3), ["bob", "carl", "olga"], True, "3 approvals"),
    # required roles
    (OWNER_AND_REVIEWER, ["olga", "rita"], True, "approved by olga, rita"),
    (OWNER_AND_REVIEWER, ["olga", "bob"], False, "need 1 more approver(s) holding reviewer"),
    (OWNER_AND_REVIEWER, ["both", "bob"], False, "need 1 more approver(s) holding"),   # one person fills one slot
    (OWNER_AND_REVIEWER, ["rita", "both"], True, "approved by rita, both"),           # both -> owner, rita -> reviewer
    (OWNER_AND_REVIEWER, ["both", "olga"], True, "approved by both, olga"),           # matching: both -> reviewer, olga -> owner
    (OWNER_AND_REVIEWER, ["alice", "rita", "bob"], False, "holding owner"),          # the author's owner role does not count
])
def test_evaluate(rule, approvals, ok, says):
    result = evaluate(rule, [Approval(a) for a in approvals], author="alice", roles_of=roles_of)
    assert result.ok is ok
    assert says in result.message
    assert f"(policy: approval rule: {rule.describe()})" in result.message  # the policy in force, every time


def test_distinct_keys_count_a_shared_key_once_and_the_authors_key_not_at_all():
    approvals = [Approval("bob", "SHA256:k1"), Approval("bob-laptop", "SHA256:k1"), Approval("carl", "SHA256:k2")]
    assert evaluate(DEFAULT, approvals, "alice", roles_of).counted == ("bob", "carl")
    loose = ApprovalRule(distinct_keys=False)
    assert evaluate(loose, approvals[:2], "alice", roles_of).ok
    shared = evaluate(DEFAULT, approvals[:2], "alice", roles_of)
    assert not shared.ok and "bob-laptop signed with the same key as bob" in shared.message
    sneaky = [Approval("alt", "SHA256:author"), Approval("carl", "SHA256:k2")]
    assert not evaluate(DEFAULT, sneaky, "alice", roles_of, author_key="SHA256:author").ok


def test_mappings_from_the_log_are_accepted_and_evidence_records_the_assignment():
    result = evaluate(OWNER_AND_REVIEWER, [{"actor": "olga", "key": "k1"}, {"actor": "rita", "stage": "production"}],
                      "alice", roles_of)
    assert not evaluate(DEFAULT, [{"actor": "bob"}, {"actor": "carl", "stage": "canary"}], "alice", roles_of).ok
    assert result.ok and result.evidence()["roles"] == {"owner": ["olga"], "reviewer": ["rita"]}


def test_policy_per_name_with_registry_default_and_the_source_in_the_message():
    policy = ApprovalPolicy.from_dict({"names": {"support-bot": {"required_roles": {"owner": 1, "reviewer": 1}}}})
    assert policy.rule_for("other") == (DEFAULT, "registry default approval policy")
    result = evaluate(policy, [Approval("bob"), Approval("carl")], "alice", roles_of, name="support-bot")
    assert not result.ok
    assert result.policy == ("approval policy for support-bot: 2 approvals from distinct keys, the author excluded, "
                             "including 1 owner and 1 reviewer")
    assert evaluate(policy, [Approval("bob"), Approval("carl")], "alice", roles_of, name="other").ok


@pytest.mark.parametrize("data, field, says", [
    ({"default": {"required": 1}}, "default.required", "below the minimum 2"),
    ({"default": {"required_roles": {"owner": 2, "reviewer": 1}}}, "default.required_roles", "raise required"),
    ({"default": {"author_may_approve": "yes"}}, "default.author_may_approve", "true or false"),
    ({"names": {"bot": {"author_may_approve": True}}}, "names.bot", "only tighten"),
    ({"default": {"required": 3}, "names": {"bot": {"required": 2}}}, "names.bot", "only tighten"),
    ({"default": {"archive_checklist": ["a", "a"]}}, "default.archive_checklist", "twice"),
    ({"default": {"requird": 2}}, "default.requird", "did you mean 'required'"),
])
def test_bad_policy_is_one_line_naming_the_field(data, field, says):
    with pytest.raises(BadInput) as info:
        ApprovalPolicy.from_dict(data)
    assert info.value.field == field and says in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("recorded, ok, open_items", [
    ({"downstream_notified": True, "artifacts_retained": True}, True, ()),
    ({"downstream_notified": {"done": True, "by": "olga", "note": "mailed #support"}, "artifacts_retained": True}, True, ()),
    ({"downstream_notified": True}, False, ("artifacts_retained",)),
    ({"downstream_notified": "yes", "artifacts_retained": True}, False, ("downstream_notified",)),  # only true counts
    (None, False, ("downstream_notified", "artifacts_retained")),
])
def test_archive_checklist(recorded, ok, open_items):
    result = check_archive_checklist(["downstream_notified", "artifacts_retained"], recorded)
    assert (result.ok, result.open) == (ok, open_items)
    if not ok:
        assert ", ".join(open_items) in result.message


def test_no_checklist_configured_passes():
    assert check_archive_checklist([], None).ok
