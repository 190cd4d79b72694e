"""Eval records at the store: a report's own verdict, the suite's fairness bound, what it evaluated."""
from __future__ import annotations

import pytest

from contract.backends import placeholder, sql_only
from contract.scenario import AUTHOR, NAME, configure, spec
from llmreg.registry.artifacts import hash_tree
from llmreg.registry.errors import BadInput, Conflict, GateFailed

SUITE = {"name": "asr-eval", "version": "2.0.0", "threshold": 0.88, "segments": {"column": "accent"},
         "fairness": {"max_gap": 0.06}}


def run_report(*, accuracy=0.92, segments=None, passed=True, failed=(), target=None, run="run-1") -> dict:
    """evals/run.py EvalReport.to_dict(), with the keys the registry reads."""
    report = {"run_id": run, "suite": {"name": "asr-eval", "version": "2.0.0", "threshold": 0.88},
              "accuracy": accuracy, "segment_scores": segments or {"en-US": 0.93, "en-IN": 0.91},
              "passed": passed, "failed_checks": list(failed)}
    if target is not None:
        report["target"] = target
    return report


# ---------------------------------------------------------------------- 1. the report's own verdict

def test_a_report_that_failed_its_suite_checks_cannot_reach_staging(reg):
    configure(reg, threshold=0.8)
    reg.register(spec(eval=None), actor=AUTHOR)
    reg.record_eval(NAME, "1.0.0", run_report(segments={"en-US": 0.96, "en-IN": 0.85}, passed=False,
                                              failed=["fairness"]), actor="ci")
    with pytest.raises(GateFailed) as info:
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    message = str(info.value)
    assert "score 0.92 >= threshold 0.88" in message and "failed its own suite checks: fairness" in message
    failed = reg.events(types=("gate.failed",))
    assert [e.payload["gate"] for e in failed] == ["eval_threshold"]
    assert failed[0].evidence["failed_checks"] == ["fairness"] and failed[0].evidence["report_passed"] is False
    assert reg.status(NAME).of("1.0.0") == "development"
    # the projection derives the verdict from the log: a rebuild gives the same tables and answer
    before = reg.store.dump_projection()
    reg.rebuild_projection()
    assert reg.store.dump_projection() == before
    with pytest.raises(GateFailed, match="fairness"):
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    # a newer report that passes its checks certifies the version
    reg.record_eval(NAME, "1.0.0", run_report(run="run-2"), actor="ci")
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    assert reg.status(NAME).of("1.0.0") == "staging"


def test_a_verdict_that_could_be_misread_is_refused_without_writing(reg):
    reg.register(spec(eval=None), actor=AUTHOR)
    head = reg.store.head_seq()
    with pytest.raises(BadInput, match="report.passed"):
        reg.record_eval(NAME, "1.0.0", run_report(passed="no"), actor="ci")
    with pytest.raises(BadInput, match="report.failed_checks"):
        reg.record_eval(NAME, "1.0.0", {**run_report(), "failed_checks": "fairness"}, actor="ci")
    assert reg.store.head_seq() == head


def test_migration_0002_derives_verdicts_of_existing_eval_records(open_registry, backend):
    """A store written before 0002 kept no verdict: opening it re-derives them from the log."""
    from llmreg.registry.store import migrate

    reg = open_registry()
    sql_only(reg)
    configure(reg, threshold=0.8)
    reg.register(spec(eval=None), actor=AUTHOR)
    event = reg.record_eval(NAME, "1.0.0", run_report(passed=False, failed=["safety"]), actor="ci")
    url = reg.store.url
    reg.close()
    migrate.downgrade(url, "0001")
    ph = placeholder(backend)
    conn = backend.connect()
    try:  # put the store back as 0001 left it: the normalised eval only
        conn.execute(f"UPDATE eval_records SET report = {ph} WHERE seq = {ph}",
                     ('{"run":"run-1","score":0.92,"segments":{"en-IN":0.91,"en-US":0.93},"suite":"asr-eval",'
                      '"suite_version":"2.0.0","threshold":0.88}', event.seq))
    finally:
        conn.close()
    reopened = open_registry()
    assert reopened.store.eval_records(NAME, "1.0.0")[0]["failed_checks"] == ["safety"]
    with pytest.raises(GateFailed, match="failed its own suite checks: safety"):
        reopened.promote(NAME, "1.0.0", "staging", actor="ci")


# ---------------------------------------------------------------------- 2. the suite's fairness bound

def _to_review(reg, report):
    reg.register(spec(eval=None), actor=AUTHOR)
    reg.record_eval(NAME, "1.0.0", report, actor="ci")
    reg.promote(NAME, "1.0.0", "staging", actor="ci")
    reg.review(NAME, "1.0.0", actor="bob")


def test_the_registered_suite_fairness_bound_applies(reg):
    reg.register_suite("asr-eval", "2.0.0", 0.88, SUITE, actor="admin")
    _to_review(reg, run_report(segments={"en-US": 0.95, "en-IN": 0.87}))  # gap 0.08: under 0.1, over 0.06
    with pytest.raises(GateFailed, match=r"exceeds bound 0.06 \(suite asr-eval@2.0.0 fairness.max_gap\)"):
        reg.promote(NAME, "1.0.0", "canary", actor="ci")
    (failed,) = [e for e in reg.events(types=("gate.failed",)) if e.payload["gate"] == "fairness"]
    assert failed.evidence["bound_source"] == "suite asr-eval@2.0.0 fairness.max_gap"
    assert "the bound 0.06 (suite asr-eval@2.0.0 fairness.max_gap)" in reg.card(NAME, "1.0.0")


def test_the_suite_bound_is_over_gates_yaml_and_an_entry_may_only_tighten_it(reg):
    reg.configure_gates({"eval_threshold": 0.8, "fairness_max_gap": 0.2}, actor="admin")
    reg.register_suite("asr-eval", "2.0.0", 0.88, SUITE, actor="admin")
    _to_review(reg, run_report(segments={"en-US": 0.95, "en-IN": 0.87}))
    with pytest.raises(GateFailed, match="exceeds bound 0.06"):
        reg.promote(NAME, "1.0.0", "canary", actor="ci")
    head = reg.store.head_seq()
    with pytest.raises(BadInput, match=r"gates.fairness_max_gap: 0.85 is above the registry's floor 0.2"):
        reg.register(spec(eval=None, gates={"fairness_max_gap": 0.85}), actor=AUTHOR)
    assert reg.store.head_seq() == head
    entry = reg.register(spec(eval=None, gates={"fairness_max_gap": 0.09}), actor=AUTHOR)  # under gates.yaml
    reg.record_eval(NAME, entry.version, run_report(segments={"en-US": 0.95, "en-IN": 0.87}), actor="ci")
    reg.promote(NAME, entry.version, "staging", actor="ci")
    reg.review(NAME, entry.version, actor="bob")
    with pytest.raises(GateFailed, match=r"exceeds bound 0.06 \(suite asr-eval@2.0.0"):  # not loosened to 0.09
        reg.promote(NAME, entry.version, "canary", actor="ci")


def test_without_a_gates_file_the_bound_is_credited_to_the_default(reg):
    _to_review(reg, run_report(segments={"en-US": 0.95, "en-IN": 0.91}))
    event = reg.promote(NAME, "1.0.0", "canary", actor="ci")
    fairness = next(g for g in event.evidence["gates"] if g["gate"] == "fairness")
    assert fairness["detail"].endswith("<= bound 0.1 (built-in default)")
    assert "gates.yaml" not in fairness["detail"]


def test_a_malformed_suite_fairness_bound_is_refused_at_registration(reg):
    with pytest.raises(BadInput) as info:
        reg.register_suite("asr-eval", "2.0.0", 0.88, {**SUITE, "fairness": {"max_gap": 6}}, actor="admin")
    assert info.value.field == "definition.fairness.max_gap"
    assert reg.store.head_seq() == 0


# ---------------------------------------------------------------------- 3. what the report evaluated

def _adapter_spec(tmp_path, content: bytes):
    adapter = tmp_path / f"adapter-{len(content)}"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(content)
    digest, size = hash_tree(adapter)
    return spec(eval=None, artifacts=[{"name": "adapter", "uri": str(adapter), "sha256": digest, "size": size,
                                       "kind": "adapter"}]), digest


def test_an_eval_of_other_bytes_cannot_certify_a_version(reg, tmp_path):
    configure(reg, threshold=0.8)
    first, old_digest = _adapter_spec(tmp_path, b"adapter v1")
    reg.register(first, actor=AUTHOR)
    reg.record_eval(NAME, "1.0.0", run_report(target={"runner": "transformers", "adapter_sha256": old_digest}),
                    actor="ci")
    second, new_digest = _adapter_spec(tmp_path, b"adapter v2, retrained")
    assert reg.register(second, actor=AUTHOR).version == "1.1.0"
    head = reg.store.head_seq()
    with pytest.raises(Conflict) as info:
        reg.record_eval(NAME, "1.1.0", run_report(target={"adapter_sha256": old_digest}), actor="ci")
    message = str(info.value)
    assert f"{NAME}@1.1.0" in message and "adapter artifact 'adapter'" in message
    assert old_digest in message and new_digest in message and "\n" not in message
    # only the refusal is written: no eval record for 1.1.0, so staging still has nothing to judge
    assert reg.store.head_seq() == head + 1
    (refused,) = reg.events(types=("action.refused",))
    assert refused.payload["action"] == "record_eval" and refused.version == "1.1.0"
    assert reg.store.eval_records(NAME, "1.1.0") == []
    with pytest.raises(GateFailed, match="no eval result"):
        reg.promote(NAME, "1.1.0", "staging", actor="ci")
    # the matching report, or one that names no digests, is accepted as before
    reg.record_eval(NAME, "1.1.0", run_report(target={"adapter_sha256": new_digest}), actor="ci")
    reg.record_eval(NAME, "1.1.0", run_report(target={"runner": "openai", "model": "gpt-4o-2024-11-20"}), actor="ci")
    reg.record_eval(NAME, "1.1.0", run_report(), actor="ci")
    assert len(reg.store.eval_records(NAME, "1.1.0")) == 3
    reg.promote(NAME, "1.1.0", "staging", actor="ci")
