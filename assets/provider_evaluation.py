"""Provider snapshot evaluation: the pinned suite against one snapshot (a dynamic partition)."""

import dagster as dg

from assets.partitions import provider_snapshots
from assets.resources import ProjectResource, ProvidersResource, RegistryResource

GROUP = "providers"
TRIGGER_TAG = "llmreg/trigger"


@dg.asset(group_name=GROUP, kinds={"python"}, partitions_def=provider_snapshots,
          description="One provider snapshot (partition provider/snapshot) qualified with its family's pinned "
                      "suite over the provider's OpenAI-compatible API; the verdict is in the registry's "
                      "provider change log, and a qualified newer snapshot drafts a registry version.")
def provider_snapshot_evaluation(context: dg.AssetExecutionContext, project: ProjectResource,
                                 registry: RegistryResource, providers: ProvidersResource) -> dg.MaterializeResult:
    from evals.providers import qualify_key

    result = qualify_key(registry.open(), providers.load(project), context.partition_key, actor=providers.actor,
                         root=project.root_path, trigger=context.run.tags.get(TRIGGER_TAG, "manual"),
                         tags={"dagster_run": context.run.run_id})
    metadata = {
        "status": result.status,
        "suite": result.suite,
        "score": result.score,
        "run_id": result.run_id,
        "failed_checks": dg.MetadataValue.json(result.failed_checks),
        "drafts": dg.MetadataValue.json(result.drafts),
        "rows": result.rows,
        "throughput_per_s": result.throughput_per_s,
        "seconds": round(result.seconds, 2),
    }
    if result.report:
        metadata["segment_accuracy"] = dg.MetadataValue.json(result.report["segment_scores"])
        metadata["latency_ms"] = dg.MetadataValue.json(result.report["latency_ms"])
    if result.status == "failed":  # recorded in the change log already; the run shows it too
        raise dg.Failure(description=result.summary(), metadata=metadata)
    context.log.info(result.summary())
    return dg.MaterializeResult(metadata=metadata)
