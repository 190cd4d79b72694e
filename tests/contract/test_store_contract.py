"""The registry store contract: every behaviour below holds on SQLite and on PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest

from contract.backends import disable_append_only, placeholder, sql_only
from contract.scenario import AUTHOR, NAME, SLO_OK, configure, spec, to_canary, to_production, version_n
from llmreg.registry.errors import BadInput, Conflict, Forbidden, GateFailed, IntegrityError, NotFound, Refused


# ---------------------------------------------------------------------- register, versions, diff

def test_register_bumps_versions_from_the_diff(reg):
    first = reg.register(spec(), actor=AUTHOR)
    assert (first.version, first.bump, first.previous) == ("1.0.0", "initial", None)
    patch = reg.register(spec(params={"max_tokens": 400}), actor=AUTHOR)
    assert (patch.version, patch.bump) == ("1.0.1", "patch")
    assert "params.max_tokens" in patch.bump_reason
    minor = reg.register(spec(params={"max_tokens": 400}, prompt_ref="triage-prompt@v10"), actor=AUTHOR)
    assert (minor.version, minor.bump, minor.previous) == ("1.1.0", "minor", "1.0.1")
    major = reg.register(spec(params={"max_tokens": 400}, prompt_ref="triage-prompt@v10",
                              model="gpt-5-2026-07-01"), actor=AUTHOR)
    assert (major.version, major.bump) == ("2.0.0", "major")
    assert reg.versions(NAME) == ["1.0.0", "1.0.1", "1.1.0", "2.0.0"]
    assert reg.get(NAME).version == "2.0.0"
    assert reg.get(NAME, "1.0.1").spec.params["max_tokens"] == 400
    assert reg.get(f"{NAME}@1.1.0").spec.prompt_ref == "triage-prompt@v10"
    assert major.seq > minor.seq > patch.seq > first.seq
    assert major.created_at >= first.created_at


def test_register_refuses_identical_and_backwards_versions_without_writing(reg):
    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    with pytest.raises(Conflict, match="identical to 1.0.0"):
        reg.register(spec(), actor=AUTHOR)
    reg.register(spec(params={"max_tokens": 1}), actor=AUTHOR, version="3.0.0")
    with pytest.raises(Conflict, match="below the latest 3.0.0"):
        reg.register(spec(params={"max_tokens": 2}), actor=AUTHOR, version="2.5.0")
    with pytest.raises(Conflict, match="already exists"):
        reg.register(spec(params={"max_tokens": 3}), actor=AUTHOR, version="3.0.0")
    assert reg.store.head_seq() == head + 1  # only the override registration was written
    assert reg.versions(NAME) == ["1.0.0", "3.0.0"]
    assert reg.get(NAME, "3.0.0").bump == "override"


def test_explicit_bump_is_recorded(reg):
    reg.register(spec(), actor=AUTHOR)
    entry = reg.register(spec(params={"max_tokens": 9}), actor=AUTHOR, bump="major")
    assert (entry.version, entry.bump) == ("2.0.0", "major")
    assert "explicit --bump major" in entry.bump_reason and "patch" in entry.bump_reason


def test_list_get_diff_and_unknown_names(reg):
    reg.register(spec(), actor=AUTHOR)
    reg.register(spec(params={"max_tokens": 400}), actor=AUTHOR)
    reg.register(spec(name="other-app"), actor=AUTHOR)
    latest = reg.list_entries()
    assert [(e.name, e.version) for e in latest] == [("other-app", "1.0.0"), (NAME, "1.0.1")]
    assert [e.version for e in reg.list_entries(NAME)] == ["1.0.0", "1.0.1"]
    diff = reg.diff(f"{NAME}@1.0.0", f"{NAME}@1.0.1")
    assert diff.bump == "patch"
    assert [(c.path, c.old, c.new) for c in diff.changes] == [("params.max_tokens", 300, 400)]
    assert reg.versions("nope") == []
    with pytest.raises(NotFound, match="no entry named 'nope'"):
        reg.get("nope")
    with pytest.raises(NotFound, match="versions: 1.0.0, 1.0.1"):
        reg.get(NAME, "9.9.9")


def test_entries_are_immutable_copies(reg):
    entry = reg.register(spec(), actor=AUTHOR)
    with pytest.raises(TypeError):
        entry.spec.params["max_tokens"] = 1  # type: ignore[index]
    assert reg.get(NAME, "1.0.0").spec.digest == entry.spec.digest


# ---------------------------------------------------------------------- lifecycle and gates

def test_promote_through_every_gate(reg):
    entry = reg.register(spec(), actor=AUTHOR)
    with pytest.raises(GateFailed, match="no eval threshold known for suite triage-eval-v4"):
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    configure(reg, threshold=0.95)
    with pytest.raises(GateFailed, match="below threshold 0.95"):
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    configure(reg, threshold=0.9)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    assert reg.status(NAME).of("1.0.0", "default") == "staging"
    with pytest.raises(GateFailed, match="no review yet"):
        reg.promote(NAME, "1.0.0", "canary", actor="ci")
    with pytest.raises(Refused, match="authors cannot review"):
        reg.review(NAME, "1.0.0", actor=AUTHOR)
    reg.review(NAME, "1.0.0", actor="bob")
    with pytest.raises(GateFailed, match="transition"):
        reg.promote(NAME, "1.0.0", "production", actor="ci")  # canary first
    event = reg.promote(NAME, "1.0.0", "canary", actor="ci", weight=0.05)
    assert event.payload["weight"] == 0.05 and event.payload["from"] == "staging"
    assert [p.weight for p in reg.pointers(NAME)] == [0.05]
    with pytest.raises(GateFailed) as failed:
        reg.promote(NAME, "1.0.0", "production", actor="ci")
    failing = {r.gate for r in failed.value.results if not r.passed}
    assert failing == {"canary_slo", "production_approvals"}  # every gate evaluated, not short-circuited
    reg.record_evidence(NAME, "1.0.0", "default", "canary_slo", SLO_OK, actor="system:slo-guard")
    reg.approve(NAME, "1.0.0", "production", actor="bob")
    reg.approve(NAME, "1.0.0", "production", actor="carol")
    promoted = reg.promote(NAME, "1.0.0", "production", actor="release-bot")
    assert promoted.evidence["approvers"] == ["bob", "carol"]
    assert promoted.evidence["reviewers"] == ["bob"]
    resolved = reg.resolve(NAME, "default")
    assert (resolved.version, resolved.stage, resolved.model) == ("1.0.0", "production", "gpt-5-mini-2026-06-01")
    assert resolved.entry == entry
    assert reg.status(NAME) == {"default": {"production": "1.0.0"}}
    gate_events = reg.events(name=NAME, types=("gate.passed", "gate.failed"))
    assert {e.payload["gate"] for e in gate_events} >= {"transition", "eval_threshold", "review", "fairness",
                                                        "canary_slo", "production_approvals", "artifact_integrity"}


def test_fairness_gate_uses_segment_gap(reg):
    configure(reg)
    reg.register(spec(eval={"suite": "s", "score": 0.95, "run": "r", "segments": {"eu": 0.99, "us": 0.7}}),
                 actor=AUTHOR)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    reg.review(NAME, "1.0.0", actor="bob")
    with pytest.raises(GateFailed, match="fairness: segment gap 0.290"):
        reg.promote(NAME, "1.0.0", "canary", actor="ci")


def test_suite_threshold_beats_gates_config(reg):
    configure(reg, threshold=0.5)
    reg.register(spec(), actor=AUTHOR)
    reg.register_suite("triage-eval-v4", "1", 0.97, {"rows": 400}, actor="admin")
    assert reg.register_suite("triage-eval-v4", "1", 0.97, {"rows": 400}, actor="admin") is None  # idempotent
    with pytest.raises(Conflict, match="immutable"):
        reg.register_suite("triage-eval-v4", "1", 0.5, {"rows": 400}, actor="admin")
    with pytest.raises(GateFailed, match="below threshold 0.97 \\(suite triage-eval-v4 definition"):
        reg.promote(NAME, "1.0.0", "staging", actor="ci")


def test_two_approver_rule(reg):
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    to_canary(reg, "1.0.0")
    reg.record_evidence(NAME, "1.0.0", "default", "canary_slo", SLO_OK, actor="slo")
    with pytest.raises(Refused, match="author"):
        reg.approve(NAME, "1.0.0", "production", actor=AUTHOR)
    reg.approve(NAME, "1.0.0", "production", actor="bob")
    with pytest.raises(Conflict, match="already approved"):
        reg.approve(NAME, "1.0.0", "production", actor="bob")
    with pytest.raises(GateFailed, match="1 of 2 distinct approvals"):
        reg.promote(NAME, "1.0.0", "production", actor="ci")
    reg.approve(NAME, "1.0.0", "production", actor="carol")
    reg.withdraw_approval(NAME, "1.0.0", "production", actor="carol")
    with pytest.raises(GateFailed, match="have: bob"):
        reg.promote(NAME, "1.0.0", "production", actor="ci")
    with pytest.raises(NotFound, match="no approval"):
        reg.withdraw_approval(NAME, "1.0.0", "production", actor="dave")
    with pytest.raises(BadInput, match="review"):
        reg.approve(NAME, "1.0.0", "canary", actor="dave")
    reg.approve(NAME, "1.0.0", "production", actor="carol")
    reg.promote(NAME, "1.0.0", "production", actor="ci")
    assert reg.resolve(NAME).version == "1.0.0"


def test_environments_are_independent(reg):
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    to_production(reg, "1.0.0", "eu")
    assert reg.resolve(NAME, "eu").version == "1.0.0"
    with pytest.raises(NotFound, match="nothing holds production in env 'us'"):
        reg.resolve(NAME, "us")
    assert reg.status(NAME).of("1.0.0", "us") == "development"
    with pytest.raises(BadInput, match="is a stage, not an environment"):
        reg.promote(NAME, "1.0.0", "staging", "production", actor="ci")
    # env never silently means a stage: the seed's call is refused with the fix
    with pytest.raises(BadInput, match="is a stage, not an environment"):
        reg.resolve(NAME, env="production")


# ---------------------------------------------------------------------- rollback, archive, time travel

def test_rollback_goes_back_one_production_version_at_a_time(reg):
    configure(reg)
    for n in range(3):
        reg.register(version_n(n), actor=AUTHOR)
    for version in ("1.0.0", "1.0.1", "1.0.2"):
        to_production(reg, version)
    assert reg.resolve(NAME).version == "1.0.2"
    event = reg.rollback(NAME, actor="oncall", reason="error spike")
    assert (event.type, event.version, event.payload["from"]) == ("stage.rolled_back", "1.0.1", "1.0.2")
    assert reg.resolve(NAME).version == "1.0.1"  # the same Registry sees it at once
    reg.rollback(NAME, actor="oncall")
    assert reg.resolve(NAME).version == "1.0.0"
    with pytest.raises(Refused, match="no production version older than 1.0.0"):
        reg.rollback(NAME, actor="oncall")
    reg.rollback(NAME, actor="oncall", to="1.0.2")
    assert reg.resolve(NAME).version == "1.0.2"
    assert reg.status(NAME).of("1.0.0", "default") == "retired"
    with pytest.raises(Refused, match="already holds production"):
        reg.rollback(NAME, actor="oncall", to="1.0.2")
    refused = reg.events(name=NAME, types=("action.refused",))
    assert [e.payload["action"] for e in refused] == ["rollback", "rollback"]


def test_pulling_a_canary_sends_it_back_to_development(reg):
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    to_production(reg, "1.0.0")
    to_canary(reg, "1.0.1", weight=0.2)
    t_canary = reg.store.head().time
    time.sleep(0.002)
    head = reg.head_seq()
    event = reg.pull_canary(NAME, actor="system:slo-guard", reason="error rate 0.09 > 0.02",
                         evidence={"error_rate": 0.09, "calls": 500})
    assert reg.head_seq() == head + 1 == event.seq
    assert (event.version, event.payload["stage"], event.evidence["attached"]["error_rate"]) == ("1.0.1", "canary", 0.09)
    assert reg.status(NAME).of("1.0.1", "default") == "development"
    assert reg.status(NAME) == {"default": {"production": "1.0.0"}}
    assert reg.resolve(NAME, stage="canary", at=t_canary).version == "1.0.1"
    with pytest.raises(NotFound, match="nothing holds canary"):
        reg.resolve(NAME, stage="canary")
    with pytest.raises(Refused, match="nothing holds canary"):
        reg.pull_canary(NAME, actor="system:slo-guard")
    to_canary(reg, "1.0.1")  # can be retried from staging, unlike an archived version
    assert reg.resolve(NAME, stage="canary").version == "1.0.1"


def test_rollback_keeps_attached_evidence(reg):
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    to_production(reg, "1.0.0")
    to_production(reg, "1.0.1")
    event = reg.rollback(NAME, actor="oncall", evidence={"p99_ms": 4100})
    assert event.evidence["attached"] == {"p99_ms": 4100} and event.evidence["artifacts"] == []


def test_rollback_refuses_versions_that_never_held_production(reg):
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    with pytest.raises(Refused, match="nothing holds production"):
        reg.rollback(NAME, actor="oncall")
    to_production(reg, "1.0.0")
    with pytest.raises(Refused, match="never held production"):
        reg.rollback(NAME, actor="oncall", to="1.0.1")


def test_archive_needs_a_replacement_in_production(reg):
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    to_production(reg, "1.0.0")
    with pytest.raises(GateFailed, match="replacement must hold production first"):
        reg.archive(NAME, "1.0.0", actor="release-bot")
    assert reg.resolve(NAME).version == "1.0.0"
    to_production(reg, "1.0.1")
    assert reg.status(NAME).of("1.0.0", "default") == "retired"
    reg.archive(NAME, "1.0.0", actor="release-bot")
    assert reg.status(NAME).of("1.0.0", "default") == "archived"
    with pytest.raises(GateFailed, match="archived"):
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    # archived versions are kept for rollback
    reg.rollback(NAME, actor="oncall")
    assert reg.resolve(NAME).version == "1.0.0"


def test_time_travel_across_promotions_and_rollbacks(reg):
    configure(reg)
    for n in range(3):
        reg.register(version_n(n), actor=AUTHOR)
    moments = {}

    def mark(label):
        time.sleep(0.002)
        moments[label] = reg.store.head().time
        time.sleep(0.002)

    mark("before")
    to_production(reg, "1.0.0")
    mark("v1")
    to_production(reg, "1.0.1")
    mark("v2")
    to_production(reg, "1.0.2")
    mark("v3")
    reg.rollback(NAME, actor="oncall")
    mark("rolled_back")
    reg.rollback(NAME, actor="oncall", to="1.0.2")
    mark("restored")
    with pytest.raises(NotFound, match="nothing held production"):
        reg.resolve(NAME, at=moments["before"])
    expected = {"v1": "1.0.0", "v2": "1.0.1", "v3": "1.0.2", "rolled_back": "1.0.1", "restored": "1.0.2"}
    for label, version in expected.items():
        answer = reg.resolve(NAME, at=moments[label])
        assert (label, answer.version) == (label, version)
        assert answer.at == moments[label]
    # the fold of the whole log equals the projection
    folded = {stage: held[0] for stage, held in reg.store.stages_at(NAME, "default").items()}
    assert folded == reg.status(NAME)["default"]


def test_time_travel_of_canary_and_staging(reg):
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    t_staging = reg.store.head().time
    time.sleep(0.002)
    reg.promote(NAME, "1.0.1", "staging", actor="ci")
    assert reg.resolve(NAME, stage="staging", at=t_staging).version == "1.0.0"
    assert reg.resolve(NAME, stage="staging").version == "1.0.1"
    assert reg.status(NAME).of("1.0.0", "default") == "development"  # displaced from staging


# ---------------------------------------------------------------------- refusals, roles, conflicts

ROLES = {
    "roles": {"developer": ["read", "register", "record_eval", "record_evidence", "promote:staging"],
              "reviewer": ["read", "approve:canary", "approve:production"],
              "release-manager": ["read", "promote:*", "approve:production", "archive", "rollback",
                                  "record_evidence"],
              "admin": ["*"]},
    "members": {"alice": ["developer"], "bob": ["reviewer"], "carol": ["reviewer"],
                "release-bot": ["release-manager"], "ci": ["developer"], "slo": ["release-manager"],
                "admin": ["admin"]},
}


def test_refused_actions_are_recorded_then_raised(reg):
    reg.register(spec(), actor=AUTHOR)  # open mode: anyone may register
    reg.configure_roles(ROLES, actor="admin")
    reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
    before = reg.store.dump_projection()
    head = reg.store.head_seq()
    with pytest.raises(Forbidden, match="actor 'mallory' \\(roles: none\\) may not register"):
        reg.register(spec(params={"x": 1}), actor="mallory")
    with pytest.raises(Forbidden, match="may not promote:canary"):
        reg.promote(NAME, "1.0.0", "canary", actor="alice")
    assert reg.store.head_seq() == head + 2
    refused = reg.events(types=("action.refused",))
    assert [(e.actor, e.payload["action"], e.payload["error"]) for e in refused] == [
        ("mallory", "register", "Forbidden"), ("alice", "promote:canary", "Forbidden")]
    assert reg.store.dump_projection() == before  # the refusals changed no state
    with pytest.raises(GateFailed):
        reg.promote(NAME, "1.0.0", "production", actor="release-bot")
    failed = reg.events(types=("gate.failed",))
    assert {e.payload["gate"] for e in failed} >= {"transition", "canary_slo", "production_approvals"}
    assert reg.store.dump_projection() == before
    # the allowed path still works
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    assert reg.status(NAME).of("1.0.0", "default") == "staging"


def test_roles_config_is_audited_and_cannot_lock_everyone_out(reg):
    with pytest.raises(BadInput, match="nobody could change roles again"):
        reg.configure_roles({"roles": {"viewer": ["read"]}, "members": {"bob": ["viewer"]}}, actor="admin")
    assert not reg.roles_configured
    reg.configure_roles(ROLES, actor="admin")
    assert reg.roles_configured
    with pytest.raises(Forbidden):
        reg.configure_roles({"open": True}, actor="alice")
    [event] = reg.events(types=("config.roles",))
    assert event.actor == "admin" and event.payload["roles"]["members"]["bob"] == ["reviewer"]
    # a second Registry (another process, for SQL) sees the same roles
    other = type(reg).open(reg.store.url.url) if hasattr(reg.store, "url") else type(reg)(reg.store, reg.artifacts)
    try:
        assert other.roles().allows("release-bot", "promote:production")
        assert not other.roles().allows("alice", "promote:production")
    finally:
        other.close()


def test_racing_promotions_exactly_one_wins(open_registry):
    setup = open_registry()
    configure(setup)
    setup.register(version_n(0), actor=AUTHOR)
    setup.register(version_n(1), actor=AUTHOR)
    racers = [open_registry(), open_registry()]
    expected_holder = [r.store.pointer(NAME, "default", "staging") for r in racers]
    assert expected_holder == [None, None]  # both read "nobody holds staging"
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]

    def race(i):
        barrier.wait()
        try:
            outcomes[i] = racers[i].promote(NAME, f"1.0.{i}", "staging", actor="ci", expect=None)
        except Conflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [o for o in outcomes if not isinstance(o, Exception)]
    losses = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(wins) == 1 and len(losses) == 1
    assert "another promotion won the race" in str(losses[0])
    assert setup.resolve(NAME, stage="staging").version == wins[0].version
    assert len(setup.events(types=("stage.promoted",))) == 1
    assert [e.payload["error"] for e in setup.events(types=("action.refused",))] == ["Conflict"]
    assert setup.verify_audit().ok


def test_promote_detects_a_holder_change_since_it_was_read(reg):
    configure(reg)
    reg.register(version_n(0), actor=AUTHOR)
    reg.register(version_n(1), actor=AUTHOR)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    with pytest.raises(Conflict, match="changed from nothing to 1.0.0"):
        reg.promote(NAME, "1.0.1", "staging", actor="ci", expect=None)
    reg.promote(NAME, "1.0.1", "staging", actor="ci", expect="1.0.0")
    assert reg.resolve(NAME, stage="staging").version == "1.0.1"


# ---------------------------------------------------------------------- resolve cache

def test_resolve_cache_sees_writes_from_another_registry(open_registry):
    reader = open_registry(refresh_interval=0.05)
    writer = open_registry()
    configure(writer)
    writer.register(version_n(0), actor=AUTHOR)
    writer.register(version_n(1), actor=AUTHOR)
    to_production(writer, "1.0.0")
    assert reader.resolve(NAME).version == "1.0.0"
    assert reader.resolve(NAME) is reader.resolve(NAME)  # cached object
    to_production(writer, "1.0.1")
    time.sleep(0.06)
    assert reader.resolve(NAME).version == "1.0.1"
    # writes through the same Registry invalidate immediately, whatever the interval
    slow = open_registry(refresh_interval=3600)
    assert slow.resolve(NAME).version == "1.0.1"
    slow.rollback(NAME, actor="oncall")
    assert slow.resolve(NAME).version == "1.0.0"


def test_uncached_registry_reads_every_time(open_registry):
    writer = open_registry()
    configure(writer)
    writer.register(version_n(0), actor=AUTHOR)
    writer.register(version_n(1), actor=AUTHOR)
    to_production(writer, "1.0.0")
    reader = open_registry(cache=False)
    assert reader.resolve(NAME).version == "1.0.0"
    to_production(writer, "1.0.1")
    assert reader.resolve(NAME).version == "1.0.1"


# ---------------------------------------------------------------------- evals, events API, imports

def test_eval_reports_in_both_shapes_feed_the_staging_gate(reg):
    configure(reg)
    reg.register(spec(eval=None), actor=AUTHOR)
    with pytest.raises(GateFailed, match="no eval result"):
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    # evals/run.py's EvalReport.to_dict() shape
    report = {"run_id": "run-a", "passed": True, "accuracy": 0.93, "segment_scores": {"eu": 0.92, "us": 0.94},
              "suite": {"name": "triage-eval", "version": "1.0.0", "threshold": 0.8}, "failed_checks": []}
    head = reg.store.head_seq()
    with pytest.raises(BadInput, match=r"report.threshold: 0.8 is below the registry's floor 0.9"):
        reg.record_eval(NAME, "1.0.0", report, actor="ci")  # a report may tighten the gates.yaml floor, never loosen it
    assert reg.store.head_seq() == head
    report["suite"]["threshold"] = 0.92
    event = reg.record_eval(NAME, "1.0.0", report, actor="ci")
    assert event.payload["report"]["passed"] is True
    assert event.payload["eval"] == {"suite": "triage-eval", "suite_version": "1.0.0", "score": 0.93,
                                     "segments": {"eu": 0.92, "us": 0.94}, "run": "run-a", "threshold": 0.92}
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    with pytest.raises(BadInput, match="report.score"):
        reg.record_eval(NAME, "1.0.0", {"suite": "x", "run": "r"}, actor="ci")


def test_events_api_for_the_pipeline(reg):
    entry = reg.register(spec(), actor=AUTHOR)
    reg.record_eval(NAME, entry.version, {"suite": "s", "score": 0.5, "run": "r1"}, actor="ci")
    reg.record_gate_failure(NAME, entry.version, "staging", "default", actor="system:promote-on-eval",
                            detail="eval run r1 failed: threshold", evidence={"eval_run": "r1"})
    events = list(reg.events(after=1, types=("eval.recorded", "gate.failed")))
    assert [e.type for e in events] == ["eval.recorded", "gate.failed"]
    assert events[1].payload["detail"] == "eval run r1 failed: threshold"
    assert list(reg.events(after=events[-1].seq)) == []
    assert reg.status(NAME).of(entry.version, "default") == "development"


def test_import_history_is_audited(reg, tmp_path):
    path = tmp_path / "support-triage.yaml"
    path.write_text("name: support-triage\nversion: 14\nmodel: gpt-5-mini-2026-06-01\n"
                    "prompt_ref: triage-prompt@v9\nparams: { max_tokens: 300 }\ntools_ref: triage-tools@v3\n"
                    "eval: { suite: triage-eval-v4, score: 0.94, run: 2026-06-10 }\n"
                    "approved_by: zyql\nstatus: production # draft | staging | production | retired\n")
    with pytest.raises(BadInput, match="assigned by the registry"):
        reg.register_file(path, actor="admin")
    entry = reg.register_file(path, actor="admin", import_history=True)
    assert (entry.version, entry.bump) == ("14.0.0", "import")
    assert reg.resolve(NAME).version == "14.0.0"
    promoted = reg.events(types=("stage.promoted",))
    assert promoted[0].evidence["imported"] is True and promoted[0].evidence["approved_by"] == ["zyql"]
    nxt = reg.register(spec(params={"max_tokens": 301}), actor=AUTHOR)
    assert nxt.version == "14.0.1"


# ---------------------------------------------------------------------- artifacts in entries

def _artifact_spec(reg, tmp_path, content: bytes = b"adapter weights v1"):
    adapter = tmp_path / "adapter"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_model.safetensors").write_bytes(content)
    (adapter / "adapter_config.json").write_text('{"r": 8}')
    from llmreg.registry.artifacts import hash_tree

    digest, size = hash_tree(adapter)
    return spec(artifacts=[{"name": "adapter", "uri": str(adapter), "sha256": digest, "size": size,
                            "kind": "adapter"}]), digest


def test_register_hashes_artifacts_and_resolve_verifies_them(open_registry, tmp_path):
    reg = open_registry()
    configure(reg)
    data, digest = _artifact_spec(reg, tmp_path)
    reg.register(data, actor=AUTHOR)
    assert reg.artifacts.contains(digest)
    to_production(reg, "1.0.0")
    assert reg.verify().ok
    fresh = open_registry()
    assert fresh.resolve(NAME, verify=True).version == "1.0.0"
    # corrupt the stored copy: verify, a fresh process's verified resolve and a rollback refuse
    stored = reg.artifacts.object_path(digest)
    target = f"{stored}/adapter_model.safetensors"
    import os

    os.chmod(target, 0o644)
    with open(target, "r+b") as fh:
        fh.write(b"X")
    report = reg.verify(NAME, "1.0.0")
    assert not report.ok and report.failures()[0][1].name == "adapter"
    other = open_registry()
    with pytest.raises(IntegrityError, match=f"artifact 'adapter' of {NAME}@1.0.0: expected sha256 {digest}, got "):
        other.resolve(NAME, verify=True)
    with pytest.raises(IntegrityError, match="'adapter'"):  # re-hashed on every verified resolve, warm cache or not
        fresh.resolve(NAME, verify=True)


def test_register_refuses_a_wrong_declared_checksum_without_writing(reg, tmp_path):
    data, digest = _artifact_spec(reg, tmp_path)
    data["artifacts"][0]["sha256"] = "0" * 64
    with pytest.raises(IntegrityError, match="expected sha256 0000"):
        reg.register(data, actor=AUTHOR)
    assert reg.versions(NAME) == [] and reg.store.head_seq() == 0


def test_promotion_refuses_corrupted_artifacts(reg, tmp_path):
    configure(reg)
    data, digest = _artifact_spec(reg, tmp_path)
    reg.register(data, actor=AUTHOR)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    reg.review(NAME, "1.0.0", actor="bob")
    import os
    import shutil

    shutil.rmtree(reg.artifacts.object_path(digest))
    os.remove(tmp_path / "adapter" / "adapter_config.json")
    with pytest.raises(IntegrityError, match="artifact 'adapter'"):
        reg.promote(NAME, "1.0.0", "canary", actor="ci")
    assert reg.status(NAME).of("1.0.0", "default") == "staging"
    failed = reg.events(types=("gate.failed",))
    assert [e.payload["gate"] for e in failed] == ["artifact_integrity"]


# ---------------------------------------------------------------------- the log itself

def test_rebuild_reproduces_the_projection(reg):
    configure(reg)
    reg.configure_roles({"open": True}, actor="admin")
    for n in range(3):
        reg.register(version_n(n), actor=AUTHOR)
    to_production(reg, "1.0.0")
    to_production(reg, "1.0.1")
    to_canary(reg, "1.0.2", weight=0.3)
    reg.rollback(NAME, actor="oncall")
    reg.archive(NAME, "1.0.1", actor="release-bot")
    reg.record_eval(NAME, "1.0.2", {"suite": "s", "score": 0.9, "run": "r"}, actor="ci")
    reg.register_suite("s", "1", 0.8, {}, actor="admin")
    reg.approve(NAME, "1.0.2", "production", actor="bob")
    reg.withdraw_approval(NAME, "1.0.2", "production", actor="bob")
    before = reg.store.dump_projection()
    assert before["stage_pointers"] and before["approvals"] and before["suites"]
    assert reg.rebuild_projection() == reg.store.head_seq()
    assert reg.store.dump_projection() == before
    assert reg.resolve(NAME).version == "1.0.0"


def test_unknown_event_types_are_kept_and_ignored(reg):
    reg.register(spec(), actor=AUTHOR)
    before = reg.store.dump_projection()
    with reg.store.unit_of_work() as uow:
        uow.key = reg.keys.key_for("system:watcher")  # what the facade does for every write
        uow.remember_key(uow.key.public)
        uow.append("provider.snapshot", actor="system:watcher", name="gpt-5-mini",
                   payload={"snapshot": "gpt-5-mini-2026-08-01"})
    assert reg.store.dump_projection() == before
    assert reg.verify_audit().ok
    reg.rebuild_projection()
    assert reg.store.dump_projection() == before


def test_events_are_append_only_in_the_database(reg, backend):
    reg.register(spec(), actor=AUTHOR)
    conn = backend.connect()
    try:
        with pytest.raises(Exception, match="append-only"):
            conn.execute("UPDATE events SET actor = 'mallory'")
        with pytest.raises(Exception, match="append-only"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()
    assert reg.verify_audit().ok


@pytest.mark.parametrize("column", ["payload", "evidence", "actor", "time", "prev_hash", "hash"])
def test_editing_a_stored_event_breaks_the_chain(reg, backend, column):
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    assert reg.verify_audit().ok
    target = 3  # an event in the middle (the first gate.passed)
    disable_append_only(backend)
    conn = backend.connect()
    q = placeholder(backend)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT {column} FROM events WHERE seq = {q}", (target,))
        value = cur.fetchone()[0]
        changed = value[:-1] + ("0" if value[-1] != "0" else "1")
        cur.execute(f"UPDATE events SET {column} = {q} WHERE seq = {q}", (changed, target))
    finally:
        conn.close()
    report = reg.verify_audit()
    assert not report.ok
    assert report.first_bad_seq == target and f"event {target}" in report.reason


def test_dropping_the_last_events_is_detected(reg, backend):
    reg.register(spec(), actor=AUTHOR)
    reg.register(spec(params={"max_tokens": 1}), actor=AUTHOR)
    disable_append_only(backend)
    conn = backend.connect()
    try:
        conn.cursor().execute("DELETE FROM events WHERE seq = 2")
    finally:
        conn.close()
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == 2 and "removed from the end" in report.reason


def test_schema_matches_the_sqlalchemy_metadata(reg):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from llmreg.registry.store import migrate
    from llmreg.registry.store.connection import sqlalchemy_engine
    from llmreg.registry.store.schema import metadata

    sql_only(reg)
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_current_head() == migrate.HEAD_REVISION
    engine = sqlalchemy_engine(reg.store.url)
    try:
        with engine.connect() as conn:
            def ours(name, type_, parent_names):  # the database may hold other apps' tables (gateway_calls)
                return type_ != "table" or name in metadata.tables

            ctx = MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE,
                                                         "include_name": ours})
            assert ctx.get_current_revision() == migrate.HEAD_REVISION
            diffs = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_resolve_cache_sees_a_write_from_another_process(open_registry, backend, tmp_path):
    import subprocess
    import sys

    writer = open_registry()
    configure(writer)
    writer.register(version_n(0), actor=AUTHOR)
    writer.register(version_n(1), actor=AUTHOR)
    to_production(writer, "1.0.0")
    to_production(writer, "1.0.1")
    reader = open_registry(refresh_interval=0.1)
    assert reader.resolve(NAME).version == "1.0.1"
    script = ("import sys; from llmreg.registry.api import Registry; "
              "reg = Registry.open(sys.argv[1], artifacts=sys.argv[2]); "
              "print(reg.rollback('support-triage', actor='oncall').seq)")
    done = subprocess.run([sys.executable, "-c", script, backend.url, str(tmp_path / "artifacts")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 0.1 + 0.5  # one refresh interval, plus slack for a loaded machine
    while reader.resolve(NAME).version != "1.0.0" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.resolve(NAME).version == "1.0.0"
    assert reader.resolver._seen_seq == int(done.stdout.strip())


@pytest.mark.postgres
def test_a_dropped_postgres_connection_is_replaced(tmp_path):
    from contract.backends import make_backend
    from llmreg.registry.api import Registry

    backend = make_backend("postgresql", tmp_path)
    reg = Registry.open(backend.url, artifacts=str(tmp_path / "artifacts"))
    try:
        configure(reg)
        reg.register(version_n(0), actor=AUTHOR)
        to_production(reg, "1.0.0")
        uncached = Registry(reg.store, reg.artifacts, cache=False)
        assert uncached.resolve(NAME).version == "1.0.0"
        for _ in range(2):
            pid = reg.store.conn().info.backend_pid
            killer = backend.connect()
            try:
                killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
            finally:
                killer.close()
            time.sleep(0.05)
            assert uncached.resolve(NAME).version == "1.0.0"  # the read is retried on a new connection
            assert reg.store.conn().info.backend_pid != pid
        pid = reg.store.conn().info.backend_pid
        killer = backend.connect()
        try:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        finally:
            killer.close()
        time.sleep(0.05)
        reg.register(version_n(1), actor=AUTHOR)  # a write begins again on a new connection
        assert reg.versions(NAME) == ["1.0.0", "1.0.1"]
    finally:
        reg.close()
        backend.drop()


def test_provider_snapshots_are_a_projection_the_log_rebuilds(reg):
    """The provider change log is kept with its events, equals the fold of the log, and a
    rebuild reproduces it."""
    from llmreg.registry import providers as pv

    models = [{"snapshot": "triage-2026-05-01", "family": "triage"}, {"snapshot": "triage-2026-06-01", "family": "triage"}]
    reg.record_provider_discovery("local-vllm", models, actor="ci")
    reg.record_provider_snapshot("local-vllm", "triage-2026-06-01", pv.QUALIFYING, actor="ci",
                                 suite="triage-eval@1.0.0", run="r1")
    reg.record_provider_snapshot("local-vllm", "triage-2026-06-01", pv.REJECTED, actor="ci",
                                 suite="triage-eval@1.0.0", run="r1", score=0.4)
    assert reg.record_provider_failure("local-vllm", "timeout", actor="ci") is not None
    reg.record_provider_discovery("local-vllm", models[:1], actor="ci")  # 06-01 delisted, provider recovered
    folded = pv.fold(reg.events(types=(pv.PROVIDER_SNAPSHOT,)))
    assert {r.key: r for r in reg.provider_log()} == folded
    record = reg.provider_snapshot("local-vllm", "triage-2026-06-01")
    assert (record.verdict, record.score, record.listed) == (pv.REJECTED, 0.4, False)
    assert reg.provider_discovery()["local-vllm"].ok
    before = reg.store.dump_projection()
    assert before["provider_snapshots"] and before["provider_discovery"]
    reg.rebuild_projection()
    assert reg.store.dump_projection() == before
