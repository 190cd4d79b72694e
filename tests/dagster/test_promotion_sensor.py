"""promote_on_eval_sensor, one test per cursor scenario, against a real SQLite registry."""
from __future__ import annotations

import json

import dagster as dg
import pytest

from assets.resources import RegistryResource
from pipelines.sensors import promote_on_eval_sensor

SPEC = {
    "name": "support-triage",
    "model": {"provider": "openai", "id": "gpt-5-mini-2026-06-01"},
    "prompt_ref": "triage-prompt@v1",
    "params": {"max_tokens": 5},
    "eval": {"suite": "triage-eval", "suite_version": "1.0.0", "score": 0.95, "run": "r1", "threshold": 0.8,
             "segments": {"eu": 0.95, "us": 0.94, "apac": 0.96}},
}


def _report(run_id: str, passed: bool, accuracy: float) -> dict:
    return {"run_id": run_id, "passed": passed, "accuracy": accuracy,
            "failed_checks": [] if passed else ["threshold"],
            "suite": {"name": "triage-eval", "version": "1.0.0", "threshold": 0.8}}


def _tick(url: str, cursor: str | None):
    # The registry resource closes what it opened when the context exits.
    with dg.build_sensor_context(cursor=cursor, resources={"registry": RegistryResource(url=url)}) as context:
        return promote_on_eval_sensor(context)


@pytest.fixture
def registry(registry_url):
    from llmreg.registry.api import Registry

    return Registry.open(registry_url)


def test_empty_log_requests_nothing(registry_url, registry):
    result = _tick(registry_url, None)
    assert list(result.run_requests or []) == []
    assert json.loads(result.cursor)["seq"] == 0


def test_passing_eval_requests_one_promotion_with_idempotent_run_key(registry_url, registry):
    entry = registry.register(SPEC, actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-a", True, 0.95), actor="alice")
    result = _tick(registry_url, None)
    [request] = result.run_requests
    assert request.run_key == f"promote:support-triage@{entry.version}:default:run-a"
    config = request.run_config["ops"]["staging_promotion"]["config"]
    assert (config["name"], config["version"], config["eval_run"]) == ("support-triage", entry.version, "run-a")
    again = _tick(registry_url, None)  # a tick that lost its cursor asks for the same key
    assert [r.run_key for r in again.run_requests] == [request.run_key]


def test_cursor_moves_past_judged_evals(registry_url, registry):
    entry = registry.register(SPEC, actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-a", True, 0.95), actor="alice")
    first = _tick(registry_url, None)
    second = _tick(registry_url, first.cursor)
    assert json.loads(first.cursor)["seq"] > 0
    assert list(second.run_requests or []) == []
    assert second.cursor == first.cursor


def test_failing_eval_records_the_failed_gate_and_requests_nothing(registry_url, registry):
    entry = registry.register(SPEC, actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-b", False, 0.41), actor="alice")
    result = _tick(registry_url, None)
    assert list(result.run_requests or []) == []
    failed = [e for e in registry.events(types=("gate.failed",))]
    assert len(failed) == 1 and failed[0].version == entry.version
    assert registry.status("support-triage").of(entry.version, "default") == "development"


def test_version_already_in_staging_is_skipped(registry_url, registry):
    entry = registry.register(SPEC, actor="alice")
    registry.promote("support-triage", entry.version, "staging", "default", actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-c", True, 0.95), actor="alice")
    result = _tick(registry_url, None)
    assert list(result.run_requests or []) == []


def test_several_evals_of_one_version_request_one_promotion_for_the_newest(registry_url, registry):
    entry = registry.register(SPEC, actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-old", True, 0.95), actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-new", True, 0.96), actor="alice")
    result = _tick(registry_url, None)
    assert [r.run_key for r in result.run_requests] == [f"promote:support-triage@{entry.version}:default:run-new"]
    assert list(registry.events(types=("gate.failed",))) == []


def test_promotion_job_is_idempotent(registry_url, registry):
    from pipelines.jobs import promote_to_staging_job

    entry = registry.register(SPEC, actor="alice")
    config = {"ops": {"staging_promotion": {"config": {
        "name": "support-triage", "version": entry.version, "env": "default", "eval_run": "run-a"}}}}
    resources = {"registry": RegistryResource(url=registry_url)}
    for _ in range(2):  # a repeated request (another tick, a retried run) must not fail
        assert promote_to_staging_job.execute_in_process(run_config=config, resources=resources).success
    promotions = list(registry.events(types=("stage.promoted",)))
    assert len(promotions) == 1 and registry.status("support-triage").of(entry.version, "default") == "staging"


def test_cursor_from_another_store_is_not_applied(registry_url, registry, tmp_path):
    from llmreg.registry.api import Registry

    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = Registry.open(other_url)
    for i in range(5):  # a longer log elsewhere: its cursor would skip this store's evals
        other.register({**SPEC, "params": {"max_tokens": 5 + i}}, actor="bob")
    far = _tick(other_url, None).cursor
    entry = registry.register(SPEC, actor="alice")
    registry.record_eval(entry.spec.name, entry.version, _report("run-a", True, 0.95), actor="alice")
    with dg.build_sensor_context(cursor=far, resources={"registry": RegistryResource(url=registry_url)}) as context:
        result = promote_on_eval_sensor(context)
    assert [r.run_key for r in result.run_requests] == [f"promote:support-triage@{entry.version}:default:run-a"]
    other.close()


def test_failed_gate_says_why_in_the_tick_log(registry_url, registry, capfd):
    entry = registry.register(SPEC, actor="alice")
    registry.record_eval(entry.spec.name, entry.version,
                         {**_report("run-b", False, 0.41),
                          "checks": {"threshold": {"detail": "accuracy 0.410 < 0.8"}}}, actor="alice")
    _tick(registry_url, None)
    log = capfd.readouterr().err  # the tick's log (what the UI shows for the tick)
    assert "staging gate failed" in log and "threshold (accuracy 0.410 < 0.8)" in log
    [failed] = registry.events(types=("gate.failed",))
    assert "threshold (accuracy 0.410 < 0.8)" in failed.payload.get("detail", str(failed.payload))
