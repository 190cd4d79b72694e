"""The sensor, the schedule and the partitioned evaluation asset against a real registry and
the in-process provider (real HTTP); runs execute in process on a temporary instance."""
from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from assets.provider_evaluation import provider_snapshot_evaluation
from pipelines.providers import (PARTITIONS, TRIGGER_TAG, ProvidersResource, provider_evaluation_job,
                                 provider_settings, provider_snapshot_sensor, reevaluate_providers_schedule)
from assets.resources import ProjectResource, RegistryResource
from providers.conftest import ENTRY, pin_production, write_providers

KEYS = ["stub/triage-2026-05-01", "stub/triage-2026-06-01", "stub/triage-2026-07-01"]


def _evaluate(definition, context):
    """Run a sensor or schedule in its context's scope: the registry resource closes on exit."""
    with context:
        return definition(context)


@pytest.fixture
def resources(project, stub, registry, tmp_path):
    write_providers(project, stub.base_url)
    return {"project": ProjectResource(root=str(project)),
            "registry": RegistryResource(url=f"sqlite:///{tmp_path / 'registry.db'}"),
            "providers": ProvidersResource(path="providers.yaml")}


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def run_partition(resources, instance, key: str, trigger: str) -> dg.ExecuteInProcessResult:
    defs = dg.Definitions(assets=[provider_snapshot_evaluation], jobs=[provider_evaluation_job], resources=resources)
    return defs.resolve_job_def("provider_evaluation_job").execute_in_process(
        instance=instance, partition_key=key, tags={TRIGGER_TAG: trigger}, raise_on_error=False)


def test_sensor_adds_new_snapshots_as_partitions_and_requests_their_qualification(resources, instance, registry):
    context = dg.build_sensor_context(instance=instance, resources=resources)
    result = _evaluate(provider_snapshot_sensor, context)
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == PARTITIONS and sorted(add.partition_keys) == KEYS  # no alias among them
    assert sorted(r.partition_key for r in result.run_requests) == KEYS
    assert {r.run_key for r in result.run_requests} == {f"qualify:{k}" for k in KEYS}
    assert {r.tags[TRIGGER_TAG] for r in result.run_requests} == {"new-snapshot"}
    assert [r.snapshot for r in registry.provider_log()] == [k.split("/")[1] for k in KEYS]

    instance.add_dynamic_partitions(PARTITIONS, list(add.partition_keys))  # what the daemon does with it
    again = _evaluate(provider_snapshot_sensor, dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(again, dg.SkipReason) and again.skip_message == "no new snapshots"


def test_sensor_records_a_failing_provider_and_skips(resources, instance, registry, stub):
    stub.queue_get_faults("500", "500")
    result = _evaluate(provider_snapshot_sensor, dg.build_sensor_context(instance=instance, resources=resources))
    assert isinstance(result, dg.SkipReason) and "HTTP 500" in result.skip_message
    assert registry.provider_log() == [] and not registry.provider_discovery()["stub"].ok


def test_schedule_requests_one_reevaluation_per_followed_partition(resources, instance, registry):
    empty = _evaluate(reevaluate_providers_schedule, dg.build_schedule_context(instance=instance, resources=resources))
    assert isinstance(empty, dg.SkipReason)
    sensor = _evaluate(provider_snapshot_sensor, dg.build_sensor_context(instance=instance, resources=resources))
    instance.add_dynamic_partitions(PARTITIONS, list(sensor.dynamic_partitions_requests[0].partition_keys))
    when = datetime(2026, 7, 1, 6, 0, tzinfo=timezone.utc)
    requests = _evaluate(reevaluate_providers_schedule, dg.build_schedule_context(
        instance=instance, resources=resources, scheduled_execution_time=when))
    assert sorted(r.partition_key for r in requests) == KEYS
    assert {r.run_key for r in requests} == {f"reevaluate:{k}:2026-07-01T06:00" for k in KEYS}
    assert {r.tags[TRIGGER_TAG] for r in requests} == {"schedule"}


def test_job_runs_qualify_partitions_and_draft_a_version_never_promoted(resources, instance, registry):
    pin_production(registry, "triage-2026-05-01")
    sensor = _evaluate(provider_snapshot_sensor, dg.build_sensor_context(instance=instance, resources=resources))
    instance.add_dynamic_partitions(PARTITIONS, list(sensor.dynamic_partitions_requests[0].partition_keys))
    good = run_partition(resources, instance, "stub/triage-2026-06-01", "new-snapshot")
    assert good.success
    [materialization] = good.asset_materializations_for_node("provider_snapshot_evaluation")
    meta = materialization.metadata
    assert meta["status"].value == "qualified" and meta["drafts"].value == [f"{ENTRY}@2.0.0"]
    assert materialization.partition == "stub/triage-2026-06-01"
    bad = run_partition(resources, instance, "stub/triage-2026-07-01", "schedule")
    assert bad.success and bad.asset_materializations_for_node("provider_snapshot_evaluation")[0] \
        .metadata["status"].value == "rejected"
    log = {r.snapshot: r for r in registry.provider_log()}
    assert (log["triage-2026-06-01"].status, log["triage-2026-07-01"].status) == ("qualified", "rejected")
    trigger = [e.payload.get("trigger") for e in registry.events(types=("provider.snapshot",))
               if e.payload["status"] == "qualifying"]
    assert trigger == ["new-snapshot", "schedule"]
    assert registry.status(ENTRY).of("2.0.0") == "development" and registry.resolve(ENTRY).version == "1.0.0"
    # the draft's passing eval is what the staging sensor acts on; staging is as far as it goes
    from pipelines.sensors import promote_on_eval_sensor

    staging = _evaluate(promote_on_eval_sensor, dg.build_sensor_context(resources={"registry": resources["registry"]}))
    assert [r.tags["llmreg/entry"] for r in staging.run_requests] == [f"{ENTRY}@2.0.0"]
    assert {r.job_name for r in staging.run_requests} <= {None, "promote_to_staging_job"}


def test_a_provider_failure_fails_the_run_after_recording_it(resources, instance, registry, stub):
    _evaluate(provider_snapshot_sensor, dg.build_sensor_context(instance=instance, resources=resources))
    instance.add_dynamic_partitions(PARTITIONS, KEYS)
    stub.always_post = "500"
    result = run_partition(resources, instance, "stub/triage-2026-06-01", "schedule")
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "failed" in failure.step_failure_data.error.message
    assert registry.provider_snapshot("stub", "triage-2026-06-01").status == "failed"


def test_cron_comes_from_env_then_providers_yaml_then_daily(project, stub):
    # Read when the code location loads (pipelines/definitions.py), from the environment it gets.
    assert provider_settings({}, project).cron == "0 6 * * *"
    path = write_providers(project, stub.base_url)
    path.write_text(path.read_text() + 'reevaluate_cron: "*/30 * * * *"\n')
    assert provider_settings({}, project).cron == "*/30 * * * *"
    assert provider_settings({"LLMREG_PROVIDERS_CRON": "0 2 * * 1"}, project).cron == "0 2 * * 1"


def test_code_location_wires_sensor_schedule_job_and_partitioned_asset(instance):  # resolving reads the live test instance
    from pipelines.definitions import defs as load

    defs = load()
    assert defs.resolve_sensor_def("provider_snapshot_sensor").job_name == "provider_evaluation_job"
    schedule = defs.resolve_schedule_def("reevaluate_providers_schedule")
    assert schedule.job_name == "provider_evaluation_job"
    graph = defs.resolve_asset_graph()
    partitions = graph.get(dg.AssetKey("provider_snapshot_evaluation")).partitions_def
    assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name == PARTITIONS
    assert defs.resolve_job_def("full_chain_job") is not None  # the chain job still resolves beside it
