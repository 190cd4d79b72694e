"""Registry API for provider snapshots: one transaction per change, nothing half-written."""
from __future__ import annotations

import pytest

from providers.conftest import ENTRY, pin_production
from llmreg.registry import providers as pv
from llmreg.registry.errors import BadInput, Conflict, Forbidden, Refused

P = "stub"
REPORT = {"run_id": "r1", "accuracy": 0.95, "segment_scores": {"eu": 0.95, "us": 0.95}, "passed": True,
          "suite": {"name": "triage-eval", "version": "1.0.0", "threshold": 0.8}}


def snapshot_events(reg):
    return list(reg.events(types=(pv.PROVIDER_SNAPSHOT, pv.PROVIDER_DISCOVERY)))


def qualify(reg, snapshot, run="r1", **kwargs):
    reg.record_provider_snapshot(P, snapshot, pv.QUALIFYING, actor="ci", suite="triage-eval@1.0.0", run=run)
    return reg.record_provider_snapshot(P, snapshot, pv.QUALIFIED, actor="ci", suite="triage-eval@1.0.0", run=run,
                                        score=0.95, passed=True, report=REPORT, **kwargs)


def test_discovery_is_one_idempotent_batch(registry):
    models = [{"snapshot": "triage-2026-06-01", "family": "triage"},
              {"snapshot": "triage-2026-05-01", "family": "triage", "shutdown_date": "2026-12-31"}]
    first = registry.record_provider_discovery(P, models, actor="ci")
    assert [e.payload["snapshot"] for e in first] == ["triage-2026-05-01", "triage-2026-06-01"]
    assert len({e.time for e in first}) == 1  # one transaction, one time
    assert registry.record_provider_discovery(P, models, actor="ci") == []
    # a new shutdown date is a `deprecated` note; a vanished snapshot is delisted, then relisted
    changed = registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01", "family": "triage",
                                                      "shutdown_date": "2027-03-01"}], actor="ci")
    assert [(e.payload["snapshot"], e.payload["status"]) for e in changed] == [
        ("triage-2026-06-01", "deprecated"), ("triage-2026-05-01", "delisted")]
    back = registry.record_provider_discovery(P, models, actor="ci")
    assert [e.payload["status"] for e in back] == ["relisted"]
    log = {r.snapshot: r for r in registry.provider_log()}
    assert log["triage-2026-06-01"].shutdown_date == "2027-03-01"
    assert log["triage-2026-05-01"].listed and log["triage-2026-05-01"].status == "seen"
    assert registry.verify_audit().ok


def test_an_alias_in_a_batch_writes_nothing(registry):
    with pytest.raises(BadInput) as err:
        registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}, {"snapshot": "triage-latest"}],
                                           actor="ci")
    assert err.value.field == "models[1].snapshot"
    assert snapshot_events(registry) == []


def test_discovery_failures_are_recorded_once_per_distinct_error_and_recovery_is_recorded(registry):
    assert registry.record_provider_failure(P, "HTTP 503", actor="ci") is not None
    assert registry.record_provider_failure(P, "HTTP 503", actor="ci") is None
    assert registry.record_provider_failure(P, "timed out", actor="ci") is not None
    assert registry.provider_discovery()[P].error == "timed out"
    registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}], actor="ci")
    assert registry.provider_discovery()[P].ok
    types = [e.type for e in snapshot_events(registry)]
    assert types == [pv.PROVIDER_DISCOVERY, pv.PROVIDER_DISCOVERY, pv.PROVIDER_SNAPSHOT, pv.PROVIDER_DISCOVERY]


def test_verdict_without_its_run_is_refused_and_the_refusal_recorded(registry):
    registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}], actor="ci")
    with pytest.raises(Refused, match="no qualification run"):
        registry.record_provider_snapshot(P, "triage-2026-06-01", pv.QUALIFIED, actor="ci", suite="s@1.0.0",
                                          run="nope", score=0.9)
    refused = list(registry.events(types=("action.refused",)))
    assert len(refused) == 1 and "no qualification run" in refused[0].payload["reason"]
    assert registry.provider_snapshot(P, "triage-2026-06-01").status == "seen"


def test_qualified_with_draft_registers_a_major_version_with_its_eval_in_one_transaction(registry):
    pin_production(registry, "triage-2026-05-01")
    registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}], actor="ci")
    production = registry.get(ENTRY, "1.0.0")
    draft = production.spec.to_dict() | {"model": {"provider": P, "id": "triage-2026-06-01"}}
    event = qualify(registry, "triage-2026-06-01", drafts=[draft])
    assert event.payload["drafts"] == [f"{ENTRY}@2.0.0"]
    entry = registry.get(ENTRY, "2.0.0")
    assert entry.bump == "major" and entry.spec.model.request_id == "triage-2026-06-01"
    evals = list(registry.events(types=("eval.recorded",), name=ENTRY))
    assert evals[-1].version == "2.0.0" and evals[-1].payload["eval"]["score"] == 0.95
    assert registry.status(ENTRY).of("2.0.0") == "development"
    assert registry.resolve(ENTRY).version == "1.0.0"  # production untouched
    # the verdict, the registration and its eval share one transaction time
    assert {e.time for e in registry.events(after=event.seq - 3)} == {event.time}


def test_a_refused_draft_leaves_no_verdict_behind(registry):
    pin_production(registry, "triage-2026-05-01")
    registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}], actor="ci")
    same_as_production = registry.get(ENTRY, "1.0.0").spec.to_dict() | {
        "model": {"provider": P, "id": "triage-2026-06-01"}}
    qualify(registry, "triage-2026-06-01", run="r1", drafts=[same_as_production])
    head = registry.head_seq()
    registry.record_provider_snapshot(P, "triage-2026-06-01", pv.QUALIFYING, actor="ci", suite="s@1.0.0", run="r2")
    with pytest.raises(Conflict, match="identical"):
        registry.record_provider_snapshot(P, "triage-2026-06-01", pv.QUALIFIED, actor="ci", suite="s@1.0.0",
                                          run="r2", score=0.9, report=REPORT, drafts=[same_as_production])
    assert registry.head_seq() == head + 1  # only the qualifying step
    assert registry.provider_snapshot(P, "triage-2026-06-01").status == "qualifying"


def test_draft_must_pin_the_qualified_snapshot(registry):
    pin_production(registry, "triage-2026-05-01")
    registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}], actor="ci")
    with pytest.raises(BadInput) as err:
        qualify(registry, "triage-2026-06-01", drafts=[registry.get(ENTRY, "1.0.0").spec])
    assert err.value.field == "drafts[0].model"


def test_roles_gate_provider_writes(registry):
    registry.configure_roles({"roles": {"admin": ["*"], "observer": ["read", "record_evidence"]},
                              "members": {"admin": ["admin"], "watcher": ["observer"]}}, actor="admin")
    registry.record_provider_discovery(P, [{"snapshot": "triage-2026-06-01"}], actor="watcher")
    with pytest.raises(Forbidden):
        registry.record_provider_snapshot(P, "triage-2026-06-01", pv.QUALIFYING, actor="watcher", suite="s@1.0.0",
                                          run="r1")
    assert registry.provider_snapshot(P, "triage-2026-06-01").status == "seen"


def test_next_version_sees_every_existing_version(registry):
    spec = {"name": "app", "model": {"provider": P, "id": "triage-2026-05-01"}, "params": {"max_tokens": 1}}
    registry.register(spec, actor="alice")
    registry.register(spec | {"params": {"max_tokens": 2}}, actor="alice", version="3.0.0")
    with pytest.raises(Conflict):
        registry.register(spec | {"params": {"max_tokens": 3}}, actor="alice", version="2.0.0")
    assert registry.register(spec | {"params": {"max_tokens": 4}}, actor="alice").version == "3.0.1"


def test_card_renders_with_the_gates_config(registry):
    registry.configure_gates({"fairness_max_gap": 0.07}, actor="admin")
    pin_production(registry, "triage-2026-05-01")
    assert "0.07" in registry.card(ENTRY, "1.0.0")
