"""The role matrix, Forbidden messages, and roles.yaml validation."""
from __future__ import annotations

import os

import pytest

from llmreg.registry.errors import BadInput, Forbidden
from llmreg.registry.policy_documents import load_roles, parse_roles
from llmreg.registry.roles import ACTIONS, DEFAULT_ROLES_FILE, Roles

# What each shipped role may do: every other action is refused.
EXPECTED = {
    "viewer": {"read"},
    "developer": {"read", "register", "record_eval", "record_evidence", "promote:staging"},
    "reviewer": {"read", "approve:canary", "approve:production", "record_evidence"},
    "release-manager": {"read", "record_eval", "record_evidence", "promote:staging", "promote:canary", "promote:production", "approve:production", "archive", "rollback"},
    "slo-guard": {"read", "record_evidence", "record_slo", "rollback"},
    "rollback-drill": {"read", "rollback"},
    "drift-monitor": {"read", "record_evidence", "rollback"},
    "auditor": {"read"},
    "admin": set(ACTIONS),
}
ROLES = Roles.default(members={role: [role] for role in EXPECTED})


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(EXPECTED))
def test_default_role_matrix(role, action):
    assert ROLES.allows(role, action) is (action in EXPECTED[role])


def test_default_roles_file_defines_exactly_these_roles():
    assert os.path.isfile(DEFAULT_ROLES_FILE)
    assert list(load_roles(DEFAULT_ROLES_FILE).roles) == list(EXPECTED)


def test_default_keeps_the_members_the_file_lists():
    shipped = load_roles(DEFAULT_ROLES_FILE).members
    assert shipped["system:slo-guard"] == ("slo-guard",)
    assert shipped["system:auditor"] == ("auditor",)  # signs the published checkpoints
    assert Roles.default().roles_of("system:slo-guard") == ("slo-guard",)
    assert Roles.default().allows("system:slo-guard", "rollback")
    # the schedules' service identities: the drill rehearses a rollback, the drift check flags
    assert shipped["system:rollback-drill"] == ("rollback-drill",)
    assert Roles.default().allows("system:rollback-drill", "rollback")
    assert not Roles.default().allows("system:rollback-drill", "promote:production")
    assert Roles.default().allows("system:drift-monitor", "record_evidence")
    assert not Roles.default().allows("system:drift-monitor", "approve:production")
    roles = Roles.default(members={"bob": ["viewer"]})
    assert roles.roles_of("bob") == ("viewer",) and roles.allows("system:slo-guard", "record_evidence")
    # an actor given explicitly gets exactly the roles given
    assert Roles.default(members={"system:slo-guard": ["viewer"]}).roles_of("system:slo-guard") == ("viewer",)


def test_forbidden_names_actor_roles_action_and_who_can_grant():
    roles = Roles.default(members={"bob": ["viewer"]})
    with pytest.raises(Forbidden) as info:
        roles.check("bob", "promote:production")
    assert str(info.value) == "actor 'bob' (roles: viewer) may not promote:production; ask a release-manager or an admin to grant it in roles.yaml"


def test_forbidden_for_non_members_and_ungranted_actions():
    roles = parse_roles({"roles": {"viewer": ["read"]}, "members": {"bob": ["viewer"]}})
    with pytest.raises(Forbidden, match=r"actor 'mallory' \(roles: none\) may not read; ask a viewer to grant it"):
        roles.check("mallory", "read")
    with pytest.raises(Forbidden, match="no role grants configure; an admin must add it to a role in roles.yaml"):
        roles.check("bob", "configure")
    roles.check("bob", "read")  # allowed: no error


def test_roles_combine_and_wildcards_expand():
    roles = parse_roles({"roles": {"promoter": ["promote:*"], "signer": ["approve:*"], "viewer": ["read"]}, "members": {"ann": ["promoter", "viewer"], "sam": "signer"}})
    assert all(roles.allows("ann", a) for a in ("promote:staging", "promote:canary", "promote:production", "read"))
    assert not roles.allows("ann", "approve:production") and not roles.allows("ann", "archive")
    assert roles.allows("sam", "approve:canary") and roles.allows("sam", "approve:production") and not roles.allows("sam", "read")
    assert roles.roles_of("ann") == ("promoter", "viewer")


def test_open_mode_allows_everything_but_still_checks_names():
    roles = Roles.open()
    assert all(roles.allows("anyone", action) for action in ACTIONS)
    assert Roles.from_dict(roles.to_dict()) == roles
    with pytest.raises(BadInput):
        roles.allows("bad name", "read")


@pytest.mark.parametrize("actor", ["alice", "system:slo-guard", "ci+bot@example.com", "A.b_c-1"])
def test_valid_actor_names(actor):
    assert Roles.default(members={actor: ["viewer"]}).allows(actor, "read")


@pytest.mark.parametrize("actor", ["", "bad name", "-lead", ":x", "a" * 129, None, 7])
def test_invalid_actor_names(actor):
    with pytest.raises(BadInput) as info:
        ROLES.allows(actor, "read")
    assert info.value.field == "actor"


def test_unknown_action_is_bad_input_with_suggestion():
    with pytest.raises(BadInput, match="did you mean 'promote:production'"):
        ROLES.allows("admin", "promote:prod")


def test_round_trip():
    roles = Roles.default(members={"alice": ["developer"], "bob": ["reviewer", "viewer"]})
    assert Roles.from_dict(roles.to_dict()) == roles


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"roles": {"dev": ["promte:staging"]}}, "roles.dev[0]", "did you mean 'promote:staging'?"),
        ({"roles": {"dev": "read"}, "members": {"bob": ["viewr"]}}, "members.bob", "unknown role 'viewr'"),
        ({"roles": {"viewer": ["read"]}, "members": {"bob": ["viewr"]}}, "members.bob", "did you mean 'viewer'?"),
        ({"roles": {"Dev Team": ["read"]}}, "roles.Dev Team", "must match"),
        ({"roles": {"dev": {"read": True}}}, "roles.dev", "expected a list of actions"),
        ({"roles": {"dev": ["read"]}, "members": {"bad name": ["dev"]}}, "members.bad name", "not a valid actor name"),
        ({"roles": {"dev": ["read"]}, "members": {"bob": 3}}, "members.bob", "expected a list of role names"),
        ({"roles": ["dev"]}, "roles", "expected a mapping"),
        ({"members": {}}, "roles", "roles: required; add it"),
        ({"roles": {}, "admins": []}, "admins", "unknown key; known fields: members, roles"),
        ({"open": True, "roles": {}}, "roles", "unknown key; known fields: open"),
    ],
)
def test_roles_file_validation(data, field, fragment):
    with pytest.raises(BadInput) as info:
        parse_roles(data, source="roles.yaml")
    assert info.value.field == field
    assert fragment in str(info.value) and str(info.value).startswith("roles.yaml: ")


def test_shipped_file_lets_the_gateway_slo_guard_pull_releases_and_nothing_more():
    roles = load_roles(DEFAULT_ROLES_FILE)
    guard = "system:slo-guard"  # the actor llmreg/serving/slo_guard.py writes as
    assert roles.roles_of(guard) == ("slo-guard",)
    assert {action for action in ACTIONS if roles.allows(guard, action)} == {"read", "record_evidence", "record_slo", "rollback"}
    with pytest.raises(Forbidden, match="may not archive"):
        roles.check(guard, "archive")


def test_roles_and_gates_built_in_code_are_checked_like_files_when_configured():
    # Roles/GatesConfig only normalise (reads trust what the store holds); configuring one runs
    # it through the same pydantic model a file goes through, so code cannot store what a file could not.
    from llmreg.registry.gates_config import GatesConfig
    from llmreg.registry.handlers.configuration import gates_command, roles_command

    with pytest.raises(BadInput) as info:
        roles_command(Roles(roles={"dev": ("promte:staging",)}, members={"admin": ("dev",)}), actor="admin")
    assert info.value.field == "roles.dev[0]" and "did you mean 'promote:staging'?" in str(info.value)
    with pytest.raises(BadInput, match="required_production_approvals: 1 is below 2"):
        gates_command(GatesConfig(required_production_approvals=1), actor="admin")
    assert gates_command(GatesConfig(eval_threshold=0.8), actor="admin").gates.eval_threshold == 0.8


def test_pydantic_stays_off_the_read_path():
    import subprocess
    import sys

    code = ("import sys; from llmreg.registry.api import Registry; from llmreg.registry.queries import Queries; "
            "from llmreg.registry.roles import Roles; Roles.from_dict({'roles': {'v': ['read']}}); "
            "print('pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
