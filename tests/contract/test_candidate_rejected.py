"""A candidate a blocking check stopped is on the record as `candidate.rejected`, not as a version."""
from __future__ import annotations

import pytest

from contract.scenario import AUTHOR, NAME, configure, spec
from llmreg.registry.audit import describe
from llmreg.registry.errors import BadInput, Forbidden, NotFound

ADAPTER = "a" * 64
CHECK = "no_regression_vs_incumbent"


def candidate() -> dict:
    return spec(eval=None, artifacts=[{"name": "adapter", "uri": "models/adapter", "sha256": ADAPTER, "size": 10,
                                       "kind": "adapter"}],
                lineage={"git_commit": "c0ffee", "training_run": "run-7", "pipeline": "dagster"})


def report(*, adapter: str = ADAPTER) -> dict:
    """evals/run.py's report of the candidate: what it evaluated, its scores."""
    return {"run_id": "eval-7", "suite": {"name": "triage-eval-v4", "version": "4"}, "accuracy": 0.61,
            "segment_scores": {"eu": 0.6, "us": 0.62, "apac": 0.61}, "passed": True, "failed_checks": [],
            "target": {"adapter_sha256": adapter}}


def test_a_stopped_candidate_is_one_signed_event_with_its_evidence_and_no_version(reg):
    configure(reg)
    reg.register(spec(), actor=AUTHOR)
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    before = reg.store.dump_projection()
    why = "accuracy 0.6100 < 0.9400 (default/staging) minus tolerance 0.01"

    event = reg.reject_candidate(candidate(), check=CHECK, detail=why, report=report(), incumbent="1.0.0",
                                 context={"tolerance": 0.01}, actor="ci")

    assert (event.type, event.name, event.version, event.actor) == ("candidate.rejected", NAME, None, "ci")
    assert event.signer and event.signature  # signed like every write
    p = event.payload
    assert (p["check"], p["detail"], p["context"]) == (CHECK, why, {"tolerance": 0.01})
    assert p["candidate"]["artifacts"] == {"adapter": ADAPTER} and len(p["candidate"]["digest"]) == 64
    assert p["candidate"]["lineage"] == {"git_commit": "c0ffee", "training_run": "run-7", "pipeline": "dagster"}
    assert p["scores"]["score"] == 0.61 and p["scores"]["segments"] == {"eu": 0.6, "us": 0.62, "apac": 0.61}
    assert p["incumbent"] == {"version": "1.0.0", "score": 0.94, "suite": "triage-eval-v4",
                              "stages": {"default": "staging"}}
    assert event.evidence["report"]["target"] == {"adapter_sha256": ADAPTER}
    # nothing registered, nothing moved: the projection is exactly what it was
    assert reg.versions(NAME) == ["1.0.0"]
    assert reg.store.dump_projection() == before
    assert reg.verify_audit().ok
    # the audit log and the entry's history show it in one line
    [shown] = reg.events(name=NAME, types=("candidate.rejected",))
    line = describe(shown)
    assert f"REJECTED by {CHECK}: score 0.61 vs incumbent 1.0.0 (0.94)" in line and why in line


def test_a_report_of_something_else_or_an_unknown_incumbent_writes_nothing(reg):
    reg.register(spec(), actor=AUTHOR)
    head = reg.store.head_seq()
    with pytest.raises(BadInput, match="report: it did not evaluate this candidate") as info:
        reg.reject_candidate(candidate(), check=CHECK, detail="worse", report=report(adapter="b" * 64), actor="ci")
    assert info.value.field == "report.target"
    with pytest.raises(NotFound):
        reg.reject_candidate(candidate(), check=CHECK, detail="worse", report=report(), incumbent="9.9.9",
                             actor="ci")
    with pytest.raises(BadInput, match="check"):
        reg.reject_candidate(candidate(), check="", detail="worse", report=report(), actor="ci")
    assert reg.store.head_seq() == head


def test_recording_a_rejection_needs_record_eval_and_the_audit_replays_that_rule(reg):
    reg.configure_roles({"roles": {"admin": ["*"], "viewer": ["read"], "developer": ["read", "record_eval"]},
                         "members": {"admin": ["admin"], "vic": ["viewer"], "ci": ["developer"]}}, actor="admin")
    with pytest.raises(Forbidden, match="may not record_eval"):
        reg.reject_candidate(candidate(), check=CHECK, detail="worse", report=report(), actor="vic")
    assert [e.type for e in reg.events()][-1] == "action.refused"
    reg.reject_candidate(candidate(), check="suite_completed", detail="3 runner errors", report=report(), actor="ci")
    assert reg.verify_audit().ok
