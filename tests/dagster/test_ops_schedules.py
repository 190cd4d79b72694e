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


# ---------------------------------------------------------------------- drift_schedule

def _serve(reg: Registry, version: str, calls: int, failing: int) -> None:
    """Rows in the registry database's gateway call log, as the gateway writes them."""
    from datetime import datetime, timedelta, timezone

    from llmreg.registry.store.schema import gateway_calls
    from llmreg.serving.call_log import make_engine

    now = datetime.now(timezone.utc)
    rows = [{"request_id": f"{version}-{i}", "time": (now - timedelta(seconds=10 + i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "endpoint": "chat", "name": "drilled", "version": version, "env": "default", "stage": "production",
             "variant": "production", "status": 502 if i < failing else 200, "latency_ms": 50.0} for i in range(calls)]
    engine = make_engine(reg.store.url)
    try:
        with engine.begin() as conn:
            conn.execute(gateway_calls.insert(), rows)
    finally:
        engine.dispose()


def test_the_drift_job_records_a_flag_and_fails_the_run(registry_url, tmp_path):
    from pipelines.ops_schedules import drift_check_job

    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
        version = _to_production(reg, 300)
        _serve(reg, version, 200, failing=2)  # 1 %: within the canary SLO's 2 %
    result = drift_check_job.execute_in_process(resources=_resources(registry_url, tmp_path))
    assert result.success
    report = result.output_for_node("drift_checks")
    assert (report["checked"], report["flagged"]) == (1, 0)
    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        assert reg.flags() == []
        _serve(reg, version, 200, failing=40)  # 42 of 400: 10.5 %
    failed = drift_check_job.execute_in_process(resources=_resources(registry_url, tmp_path), raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
    assert "1 of 1 production version(s) flagged for drift" in failure.step_failure_data.error.message
    with Registry.open(registry_url, artifacts=tmp_path / "artifacts") as reg:
        (flag,) = reg.flags("drilled")
        assert flag.actor == "system:drift-monitor" and flag.version == version
        assert "error rate 0.105 over 400 calls (max 0.02)" in flag.payload["reasons"]
        assert reg.resolve("drilled").version == version


def test_the_drift_schedule_is_daily_and_loads_in_definitions():
    from pipelines.ops_schedules import drift_check_job, drift_schedule

    assert drift_schedule.cron_schedule == "0 5 * * *"
    with dg.build_schedule_context() as context:
        (request,) = drift_schedule.evaluate_tick(context).run_requests
    assert request.job_name in (None, "drift_check_job")
    defs = dg.Definitions(jobs=[drift_check_job], schedules=[drift_schedule], resources={"registry": RegistryResource()})
    assert defs.resolve_schedule_def("drift_schedule").job_name == "drift_check_job"


def test_the_code_location_carries_the_drift_schedule_with_the_configured_cron(monkeypatch):
    from pipelines.definitions import defs

    monkeypatch.setenv("LLMREG_DRIFT_CRON", "*/30 * * * *")
    loaded = defs()
    schedule = loaded.resolve_schedule_def("drift_schedule")
    assert schedule.cron_schedule == "*/30 * * * *" and schedule.job_name == "drift_check_job"
    assert loaded.resolve_schedule_def("rollback_drill_schedule").cron_schedule == "0 6 * * 1"
