"""rollback_drill_schedule and its job, run by Dagster against a real SQLite registry."""
from __future__ import annotations

import dagster as dg

from llmreg.registry.api import Registry
from pipelines.ops_schedules import rollback_drill_job, rollback_drill_schedule
from assets.resources import RegistryResource

SPEC = {"name": "drilled", "model": "gpt-5-mini-2026-06-01",
        "eval": {"suite": "s", "score": 0.95, "run": "r", "segments": {"eu": 0.95, "us": 0.95}}}


def _to_production(reg: Registry, max_tokens: int, env: str = "default") -> str:
    version = reg.register({**SPEC, "params": {"max_tokens": max_tokens}}, actor="alice").version
    reg.promote("drilled", version, "staging", env, actor="ci")
    reg.review("drilled", version, env, actor="bob")
    reg.promote("drilled", version, "canary", env, actor="ci")
    reg.record_evidence("drilled", version, env, "canary_slo", {"error_rate": 0.0, "p99_ms": 100, "calls": 500, "instance": "gw-test", "window": {"start": "2026-06-10T09:00:00Z", "end": "2026-06-10T10:00:00Z"}},
                        actor="system:slo-guard")
    reg.approve("drilled", version, "production", env, actor="bob")
    reg.approve("drilled", version, "production", env, actor="carol")
    reg.promote("drilled", version, "production", env, actor="ci")
    return version


def _resources(registry_url: str, tmp_path) -> dict:
    return {"registry": RegistryResource(url=registry_url, artifacts=str(tmp_path / "artifacts"))}


def test_the_job_drills_every_production_version_and_records_it(registry_url, tmp_path):
    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
        _to_production(reg, 300)
        _to_production(reg, 400)
    result = rollback_drill_job.execute_in_process(resources=_resources(registry_url, tmp_path))
    assert result.success
    (drill,) = result.output_for_node("rollback_drills")
    assert (drill["name"], drill["env"], drill["current"], drill["target"], drill["ok"]) == (
        "drilled", "default", "1.0.1", "1.0.0", True)
    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        (event,) = reg.drills("drilled")
        assert event.actor == "system:rollback-drill" and event.payload["ok"] is True


def test_a_failed_drill_fails_the_run_after_recording_it(registry_url, tmp_path):
    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
        _to_production(reg, 300)  # nothing older to roll back to
    result = rollback_drill_job.execute_in_process(resources=_resources(registry_url, tmp_path), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "1 of 1 rollback drill(s) failed" in failure.step_failure_data.error.message
    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        assert [e.payload["ok"] for e in reg.drills()] == [False]


def test_the_schedule_is_weekly_and_loads_in_definitions():
    assert rollback_drill_schedule.cron_schedule == "0 6 * * 1"
    with dg.build_schedule_context() as context:
        (request,) = rollback_drill_schedule.evaluate_tick(context).run_requests
    assert request.job_name in (None, "rollback_drill_job")
    defs = dg.Definitions(jobs=[rollback_drill_job], schedules=[rollback_drill_schedule],
                          resources={"registry": RegistryResource()})
    assert defs.resolve_schedule_def("rollback_drill_schedule").job_name == "rollback_drill_job"
