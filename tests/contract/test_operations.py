"""Retention (gc) and rollback drills through the Python API, on every store backend."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from contract import scenario as sc
from llmreg.registry import events as ev
from llmreg.registry.artifacts import hash_path
from llmreg.registry.errors import BadInput, Forbidden, Refused

LATER = datetime.now(timezone.utc) + timedelta(days=3650)  # every span and registration is old by then
TIGHT = {"default": {"keep_production_days": 0, "keep_last_production": 1, "keep_recent_days": 0}}


def _artifact(tmp_path, name: str, text: str, kind: str = "adapter") -> dict:
    path = tmp_path / "files" / f"{name}-{abs(hash(text))}.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    sha, size = hash_path(path)
    return {"name": name, "uri": str(path), "sha256": sha, "size": size, "kind": kind}


@pytest.fixture
def three_releases(reg, tmp_path):
    """1.0.0, 1.0.0, 1.1.0, 1.2.0 each promoted to production in turn; each has its own adapter and
    all share one tokenizer file."""
    sc.configure(reg)
    shared = _artifact(tmp_path, "tokenizer", "shared tokenizer", kind="tokenizer")
    adapters = []
    for n in range(3):
        adapter = _artifact(tmp_path, "adapter", f"adapter {n}")
        adapters.append(adapter)
        entry = reg.register(sc.spec(params={"max_tokens": 300 + n}, artifacts=[adapter, shared]), actor=sc.AUTHOR)
        sc.to_production(reg, entry.version)
    return reg, [a["sha256"] for a in adapters], shared["sha256"]


def test_dry_run_reports_and_writes_nothing(three_releases):
    reg, adapters, shared = three_releases
    reg.configure_retention(TIGHT, actor="admin")
    head = reg.head_seq()
    report = reg.gc(actor="ops", dry_run=True, now=LATER)
    assert report.dry_run and reg.head_seq() == head
    (target,) = report.targets
    assert target.plan.remove == ("1.0.0", "1.1.0")
    assert set(target.present) == set(adapters[:2]) and target.shared == (shared,)
    assert all(reg.artifacts.contains(d) for d in adapters + [shared])
    assert "would remove 1.0.0, 1.1.0" in report.summary()


def test_gc_removes_copies_records_one_event_and_refuses_rollback(three_releases):
    reg, adapters, shared = three_releases
    reg.configure_retention(TIGHT, actor="admin")
    report = reg.gc(actor="ops", now=LATER)
    (event,) = report.events
    assert event.type == ev.ARTIFACTS_COLLECTED and event.name == sc.NAME
    assert event.payload["removed_versions"] == ["1.0.0", "1.1.0"]
    assert sorted(event.payload["removed_digests"]) == sorted(adapters[:2])
    assert event.payload["shared_digests"] == [shared]
    assert "keep_last_production" in event.payload["policy"] and event.payload["dry_run"] is False
    assert not reg.artifacts.contains(adapters[0]) and not reg.artifacts.contains(adapters[1])
    assert reg.artifacts.contains(adapters[2]) and reg.artifacts.contains(shared)
    assert reg.verify_audit().ok
    assert reg.versions(sc.NAME) == ["1.0.0", "1.1.0", "1.2.0"]  # entries and events stay

    with pytest.raises(Refused, match=r"rollback to version 1\.1\.0: its stored artifacts were removed by gc .*"
                                      r"retention default.*gc event #"):
        reg.rollback(sc.NAME, actor="release-bot")
    refused = reg.events(types=[ev.ACTION_REFUSED])[-1]
    assert refused.payload["action"] == "rollback" and "retention" in refused.payload["reason"]
    assert reg.resolve(sc.NAME).version == "1.2.0"

    again = reg.gc(actor="ops", now=LATER)  # nothing new: nothing written
    assert again.events == () and again.targets[0].already == ("1.0.0", "1.1.0")


def test_default_policy_keeps_recent_production_versions(three_releases):
    reg, adapters, _ = three_releases
    report = reg.gc(actor="ops")
    assert report.events == () and report.targets[0].plan.remove == ()
    assert all(reg.artifacts.contains(d) for d in adapters)


def test_retention_policy_is_a_config_event(reg):
    assert reg.retention().default.keep_last_production == 3
    event = reg.configure_retention({"default": {"keep_last_production": 2},
                                     "names": {"support-triage": {"keep_production_days": 365}}}, actor="admin")
    assert event.type == ev.CONFIG_RETENTION
    policy = reg.retention()
    assert policy.rule_for("support-triage")[0].keep_production_days == 365
    assert policy.rule_for("other")[0].keep_last_production == 2
    with pytest.raises(BadInput, match="keeps less than the registry default"):
        reg.configure_retention({"default": {"keep_last_production": 5},
                                 "names": {"x": {"keep_last_production": 1}}}, actor="admin")


def test_gc_needs_archive_and_retention_needs_configure(reg):
    reg.configure_roles({"roles": {"admin": ["*"], "viewer": ["read"]},
                         "members": {"admin": ["admin"], "alice": ["admin"], "vic": ["viewer"]}}, actor="admin")
    with pytest.raises(Forbidden):
        reg.configure_retention(TIGHT, actor="vic")
    reg.register(sc.spec(), actor=sc.AUTHOR)
    with pytest.raises(Forbidden):
        reg.gc(actor="vic", now=LATER)


def test_drill_passes_records_and_moves_nothing(three_releases):
    reg, _, _ = three_releases
    result = reg.drill(sc.NAME, "default", actor="ops",
                       checks={"backend_load": lambda entry: (True, f"loaded {entry.ref}")})
    assert result.ok and result.current == "1.2.0" and result.target == "1.1.0"
    assert [c.name for c in result.checks] == ["artifacts", "refs", "backend_load"]
    assert reg.resolve(sc.NAME).version == "1.2.0"
    (event,) = reg.drills(sc.NAME)
    assert event.type == ev.ROLLBACK_DRILL and event.version == "1.1.0" and event.env == "default"
    assert event.payload["ok"] is True and event.payload["checks"][2]["detail"] == f"loaded {sc.NAME}@1.1.0"
    assert "rollback.drill" in reg.card(sc.NAME, "1.1.0") and "Rollback drills" in reg.card(sc.NAME, "1.1.0")


def test_drill_fails_after_gc_and_when_a_check_fails(three_releases):
    reg, _, _ = three_releases
    failing = reg.drill(sc.NAME, actor="ops", checks={"backend_load": lambda entry: (False, "no config.json")})
    assert not failing.ok and "backend_load: no config.json" in failing.summary()
    reg.configure_retention(TIGHT, actor="admin")
    reg.gc(actor="ops", now=LATER)
    result = reg.drill(sc.NAME, actor="ops")
    assert not result.ok and "removed by gc" in result.checks[0].detail
    assert [e.payload["ok"] for e in reg.drills(sc.NAME)] == [False, False]


def test_drill_without_an_earlier_version_fails_and_drill_all_covers_every_env(reg):
    sc.configure(reg)
    entry = reg.register(sc.spec(), actor=sc.AUTHOR)
    sc.to_production(reg, entry.version)
    sc.to_production(reg, entry.version, "eu")
    results = reg.drill_all(actor="ops")
    assert [(r.env, r.ok, r.target) for r in results] == [("default", False, None), ("eu", False, None)]
    assert "no production version older than 1.0.0" in results[0].reason
    assert len(reg.drills()) == 2
    with pytest.raises(Refused, match="nothing holds production"):
        reg.drill(sc.NAME, "staging-eu", actor="ops")


def test_archive_checklist_items_may_carry_who_and_when(reg):
    from llmreg.registry.errors import GateFailed

    reg.configure_gates({"eval_threshold": 0.9, "archive_checklist": ["downstream_notified", "artifacts_retained"]},
                        actor="admin")
    for n in range(2):
        sc.to_production(reg, reg.register(sc.version_n(n), actor=sc.AUTHOR).version)
    with pytest.raises(GateFailed, match="downstream_notified, artifacts_retained not done"):
        reg.archive(sc.NAME, "1.0.0", actor="release-bot")
    reg.record_evidence(sc.NAME, "1.0.0", "default", "archive_checklist",
                        {"downstream_notified": {"done": True, "by": "dana", "at": "2026-06-01"},
                         "artifacts_retained": True}, actor="dana")
    event = reg.archive(sc.NAME, "1.0.0", actor="release-bot")
    assert event.type == ev.STAGE_ARCHIVED
    passed = [g for g in event.evidence["gates"] if g["gate"] == "archive_checklist"]
    assert passed == [{"gate": "archive_checklist", "detail": "archival checklist complete (2 items)"}]


def test_stage_spans_fold_to_the_projections_pointers(reg):
    """gc's history fold (handlers/gc.stage_spans) agrees with the store's stage pointers."""
    from llmreg.registry.handlers.gc import stage_spans

    sc.configure(reg)
    versions = [reg.register(sc.version_n(n), actor=sc.AUTHOR).version for n in range(4)]
    sc.to_production(reg, versions[0])
    sc.to_production(reg, versions[1])
    sc.to_canary(reg, versions[2])
    reg.pull_canary(sc.NAME, actor="release-bot")
    reg.archive(sc.NAME, versions[0], actor="release-bot")
    sc.to_canary(reg, versions[3], "eu")
    spans = stage_spans(reg.events(name=sc.NAME, types=ev.STAGE_TYPES))
    held = {(s.version, s.env, s.stage) for s in spans if s.holds()}
    assert held == {(p.version, p.env, p.stage) for p in reg.pointers(sc.NAME)}
    assert any(s.version == versions[0] and s.stage == "archived" and s.until is None for s in spans)
    closed = [s for s in spans if s.version == versions[0] and s.stage == "production"]
    assert len(closed) == 1 and closed[0].until is not None
    # what gc reads: the store's stage_history rows give the same spans (archiving leaves none)
    from llmreg.registry.handlers.gc import history_spans

    from_table = history_spans(reg.store.stage_history(sc.NAME))
    key = lambda s: (s.env, s.stage, s.since, s.version)  # noqa: E731
    assert sorted(from_table, key=key) == sorted((s for s in spans if s.stage != "archived"), key=key)
    assert len(from_table) == 10  # staging, canary, production x2; staging, canary x2 (one pulled, one in eu)


def test_a_failed_drill_notifies_a_drill_failed_subscription_and_a_passed_one_does_not(three_releases):
    reg, _, _ = three_releases
    reg.add_webhook("http://127.0.0.1:9/oncall", "rollback.drill.failed", secret="s" * 24, actor="admin", id="oncall")
    reg.add_webhook("http://127.0.0.1:9/every", "rollback.drill", secret="s" * 24, actor="admin", id="every")
    reg.drill(sc.NAME, actor="ops", checks={"backend_load": lambda entry: (True, "loaded")})
    reg.drill(sc.NAME, actor="ops", checks={"backend_load": lambda entry: (False, "no config.json")})
    queued = [(sub, event["type"], event["data"]["ok"]) for _, sub, event in reg.store.outbox_rows()]
    assert queued == [("every", "rollback.drill", True), ("every", "rollback.drill", False),
                      ("oncall", "rollback.drill", False)]
    with pytest.raises(BadInput, match="rollback.drill.failing"):
        reg.add_webhook("http://127.0.0.1:9/x", "rollback.drill.failing", secret="s" * 24, actor="admin")
