"""Provider snapshots in Dagster: a sensor discovers them, a schedule re-evaluates them.

- `provider_snapshot_sensor` reads every provider's `GET /v1/models` (evals.providers),
  records what changed in the registry's change log, adds each followed snapshot as a
  dynamic partition of `provider_snapshots` and requests its first qualification run.
- `reevaluate_providers_schedule` (cron: LLMREG_PROVIDERS_CRON, else providers.yaml
  `reevaluate_cron`, else daily 06:00 UTC) re-runs the pinned suites against every followed
  snapshot: one `provider_evaluation_job` run per partition.
- The job materializes `provider_snapshot_evaluation` (assets/provider_evaluation.py) for one
  snapshot; a qualified snapshot newer than a production pin drafts a registry version, which
  promote_on_eval_sensor may take to staging and nothing takes further without people.

Settings: LLMREG_PROVIDERS (providers.yaml path), LLMREG_PROVIDERS_CRON, LLMREG_PROVIDERS_POLL_S
(sensor interval, default 300 s). Both the sensor and the schedule start stopped.
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from pipelines.resources import ProjectResource, RegistryResource

PARTITIONS = "provider_snapshots"
TRIGGER_TAG = "llmreg/trigger"
DISCOVERY_ACTOR = "system:provider-discovery"
QUALIFICATION_ACTOR = "system:provider-qualification"

provider_snapshots = dg.DynamicPartitionsDefinition(name=PARTITIONS)


class ProvidersResource(dg.ConfigurableResource):
    """Where providers.yaml is (relative paths resolve against the project root)."""

    path: str = "providers.yaml"
    actor: str = QUALIFICATION_ACTOR

    def load(self, project: ProjectResource):
        from evals.providers import load_providers

        path = Path(self.path)
        return load_providers(path if path.is_absolute() else project.path(path))


def provider_resources() -> dict[str, dg.ConfigurableResource]:
    return {"providers": ProvidersResource(path=os.environ.get("LLMREG_PROVIDERS", "providers.yaml"))}


def reevaluate_cron() -> str:
    """LLMREG_PROVIDERS_CRON, else `reevaluate_cron` in providers.yaml, else daily at 06:00."""
    from evals.providers.config import DEFAULT_CRON

    if os.environ.get("LLMREG_PROVIDERS_CRON"):
        return os.environ["LLMREG_PROVIDERS_CRON"]
    path = Path(os.environ.get("LLMREG_PROVIDERS", "providers.yaml"))
    if not path.is_absolute():
        path = Path(os.environ.get("LLMREG_PROJECT_ROOT", ".")) / path
    try:
        import yaml

        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError):
        return DEFAULT_CRON  # no readable file: the sensor reports the real problem on its tick
    cron = data.get("reevaluate_cron") if isinstance(data, dict) else None
    return cron if isinstance(cron, str) and cron.strip() else DEFAULT_CRON


provider_evaluation_job = dg.define_asset_job(
    "provider_evaluation_job",
    selection=dg.AssetSelection.assets("provider_snapshot_evaluation"),
    partitions_def=provider_snapshots,
    executor_def=dg.in_process_executor,
    description="Qualify one provider snapshot (partition provider/snapshot) with its family's pinned suite.",
)


@dg.sensor(job=provider_evaluation_job, minimum_interval_seconds=int(os.environ.get("LLMREG_PROVIDERS_POLL_S", "300")),
           default_status=dg.DefaultSensorStatus.STOPPED,
           description="Discovers new provider snapshots (GET /v1/models), adds them as partitions and "
                       "requests their qualification.")
def provider_snapshot_sensor(context: dg.SensorEvaluationContext, project: ProjectResource,
                             registry: RegistryResource, providers: ProvidersResource):
    from evals.providers import discover_all, partition_keys

    config = providers.load(project)
    reg = registry.open()
    problems = []
    for result in discover_all(reg, config, actor=DISCOVERY_ACTOR):
        if not result.ok:
            problems.append(result.error)
            context.log.warning(result.error)
        for model_id, family, why in result.aliases:
            context.log.info(f"{result.provider}: {model_id} ({family}) is not a snapshot: {why}")
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS))
    new = [key for key in partition_keys(reg, config) if key not in existing]
    if not new:
        reason = "; ".join(problems) if problems else "no new snapshots"
        return dg.SkipReason(reason)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, run_key=f"qualify:{key}",
                                    tags={TRIGGER_TAG: "new-snapshot"}) for key in new],
        dynamic_partitions_requests=[provider_snapshots.build_add_request(new)],
    )


@dg.schedule(job=provider_evaluation_job, cron_schedule=reevaluate_cron(), execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Re-runs the pinned suites against every followed provider snapshot.")
def reevaluate_providers_schedule(context: dg.ScheduleEvaluationContext, project: ProjectResource,
                                  registry: RegistryResource, providers: ProvidersResource):
    from evals.providers import partition_keys

    config = providers.load(project)
    existing = set(context.instance.get_dynamic_partitions(PARTITIONS))
    keys = partition_keys(registry.open(), config)
    waiting = [key for key in keys if key not in existing]
    if waiting:
        context.log.info(f"not partitions yet (provider_snapshot_sensor adds them): {', '.join(waiting)}")
    keys = [key for key in keys if key in existing]
    if not keys:
        return dg.SkipReason("no followed provider snapshots are partitions yet; start provider_snapshot_sensor")
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M") if context.scheduled_execution_time else "now"
    return [dg.RunRequest(partition_key=key, run_key=f"reevaluate:{key}:{stamp}", tags={TRIGGER_TAG: "schedule"})
            for key in keys]
