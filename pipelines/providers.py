"""Provider snapshots in Dagster: a sensor discovers them, a schedule re-evaluates them.

- `provider_snapshot_sensor` reads every provider's `GET /v1/models` (evals.providers),
  records what changed in the registry's change log, adds each followed snapshot as a
  dynamic partition of `provider_snapshots` and requests its first qualification run.
- `reevaluate_providers_schedule` re-runs the pinned suites against every followed snapshot:
  one `provider_evaluation_job` run per partition. Its cron and the sensor's interval are
  read when the code location loads (`provider_settings`): LLMREG_PROVIDERS_CRON, else
  providers.yaml `reevaluate_cron`, else daily 06:00 UTC; LLMREG_PROVIDERS_POLL_S, else 300 s.
- The job materializes `provider_snapshot_evaluation` (assets/provider_evaluation.py) for one
  snapshot; a qualified snapshot newer than a production pin drafts a registry version, which
  promote_on_eval_sensor may take to staging and nothing takes further without people.

Both the sensor and the schedule start stopped.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assets.partitions import PROVIDER_SNAPSHOTS, provider_snapshots
from assets.partitions import PROVIDER_SNAPSHOTS as PARTITIONS  # noqa: F401  (the name tests and tools use)
from assets.provider_evaluation import TRIGGER_TAG
from assets.resources import ProjectResource, ProvidersResource, RegistryResource
from evals.providers.config import DEFAULT_CRON

DISCOVERY_ACTOR = "system:provider-discovery"

DEFAULT_POLL_S = 300

provider_evaluation_job = dg.define_asset_job(
    "provider_evaluation_job",
    selection=dg.AssetSelection.assets("provider_snapshot_evaluation"),
    partitions_def=provider_snapshots,
    executor_def=dg.in_process_executor,
    description="Qualify one provider snapshot (partition provider/snapshot) with its family's pinned suite.",
)


@dataclass(frozen=True)
class ProviderSettings:
    cron: str
    poll_seconds: int


def provider_settings(env: Mapping[str, str], root: Path) -> ProviderSettings:
    """Cron and poll interval, read when the code location loads (never at import)."""
    from llmreg.registry.documents import read_document
    from llmreg.registry.errors import BadInput

    cron = env.get("LLMREG_PROVIDERS_CRON")
    if not cron:
        path = Path(env.get("LLMREG_PROVIDERS", "providers.yaml"))
        path = path if path.is_absolute() else root / path
        try:
            data = read_document(str(path), "providers file") if path.is_file() else {}
        except BadInput:
            data = {}  # the sensor reports the real problem on its tick
        value = data.get("reevaluate_cron") if isinstance(data, dict) else None
        cron = value if isinstance(value, str) and value.strip() else DEFAULT_CRON
    return ProviderSettings(cron=cron, poll_seconds=int(env.get("LLMREG_PROVIDERS_POLL_S", DEFAULT_POLL_S)))


def build_provider_snapshot_sensor(settings: ProviderSettings) -> dg.SensorDefinition:
    @dg.sensor(name="provider_snapshot_sensor", job=provider_evaluation_job,
               minimum_interval_seconds=settings.poll_seconds, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Discovers new provider snapshots (GET /v1/models), adds them as partitions and "
                           "requests their qualification.")
    def _sensor(context: dg.SensorEvaluationContext, project: ProjectResource,
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
        existing = set(context.instance.get_dynamic_partitions(PROVIDER_SNAPSHOTS))
        new = [key for key in partition_keys(reg, config) if key not in existing]
        if not new:
            return dg.SkipReason("; ".join(problems) if problems else "no new snapshots")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=key, run_key=f"qualify:{key}",
                                        tags={TRIGGER_TAG: "new-snapshot"}) for key in new],
            dynamic_partitions_requests=[provider_snapshots.build_add_request(new)],
        )

    return _sensor


def build_reevaluate_providers_schedule(settings: ProviderSettings) -> dg.ScheduleDefinition:
    @dg.schedule(name="reevaluate_providers_schedule", job=provider_evaluation_job, cron_schedule=settings.cron,
                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Re-runs the pinned suites against every followed provider snapshot.")
    def _schedule(context: dg.ScheduleEvaluationContext, project: ProjectResource,
                  registry: RegistryResource, providers: ProvidersResource):
        from evals.providers import partition_keys

        config = providers.load(project)
        existing = set(context.instance.get_dynamic_partitions(PROVIDER_SNAPSHOTS))
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

    return _schedule


# With the defaults (no environment read): what tests and tools call directly. The code
# location builds its own from the deployment's settings (pipelines/definitions.py).
provider_snapshot_sensor = build_provider_snapshot_sensor(ProviderSettings(DEFAULT_CRON, DEFAULT_POLL_S))
reevaluate_providers_schedule = build_reevaluate_providers_schedule(ProviderSettings(DEFAULT_CRON, DEFAULT_POLL_S))
