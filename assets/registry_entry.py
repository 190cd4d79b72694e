"""Registry: the release tuple registered as a `development` version."""

import contextlib

import dagster as dg

from assets.step_runner import run_step
from pipelines.resources import ProjectResource, RegistryResource

GROUP = "registry"
DATASET_ASSETS = {"train": "train_tickets", "eval": "eval_tickets"}


def _dataset_versions(context: dg.AssetExecutionContext) -> dict[str, str] | None:
    """The version ids the dataset assets recorded, so UI lineage and registry lineage agree."""
    versions = {}
    for role, key in DATASET_ASSETS.items():
        event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        if "dataset_version" not in meta:
            return None
        versions[role] = meta["dataset_version"].value
    return versions


@dg.asset(group_name=GROUP, kinds={"sqlite"},
          deps=["evaluation_report", "lora_adapter", "base_model", "train_tickets", "eval_tickets"],
          description="The release tuple (base model + adapter checksums, prompt, params, dataset "
                      "versions, eval, lineage) registered in llm-registry.")
def registry_entry(context: dg.AssetExecutionContext, project: ProjectResource,
                   registry: RegistryResource) -> dg.MaterializeResult:
    import time

    from training import release

    started = time.perf_counter()
    # The release tuple file first, exactly as dvc.yaml's release_tuple stage writes it, so
    # Dagster and DVC leave the same outputs behind; then the registration itself.
    run_step(context, project.root_path, "training.release", release.main)
    reg = registry.open()
    with contextlib.chdir(project.root_path):
        entry, created = release.register_release(reg, actor=registry.actor, run_id=context.run.run_id,
                                          datasets=_dataset_versions(context), root=project.root_path)
    spec = entry.spec
    history = _score_history(reg, spec.name, project.path("metrics/score_history.png"))
    context.log.info(f"{entry.ref} {'registered' if created else 're-evaluated (tuple unchanged)'}")
    return dg.MaterializeResult(metadata={
        "entry": entry.ref,
        "version": entry.version,
        "created": created,
        "bump": entry.bump,
        "stages": dg.MetadataValue.json(reg.status(spec.name)),
        "base_model_sha256": spec.model.sha256,
        "adapter_sha256": spec.artifacts[0].sha256 if spec.artifacts else None,
        "dataset_versions": dg.MetadataValue.json(dict(spec.datasets)),
        "eval_score": spec.eval.score if spec.eval else None,
        "eval_run": spec.eval.run if spec.eval else None,
        "git_commit": spec.lineage.get("git_commit"),
        "dvc_lock_sha256": spec.lineage.get("dvc_lock_sha256"),
        "seconds": round(time.perf_counter() - started, 2),
        **({"score_history": history} if history else {}),
    })


def _score_history(reg, name: str, out) -> dg.MetadataValue | None:
    """The registry's eval history for this entry as a PNG, inlined so the UI shows it."""
    import base64

    from evals.history import plot_registry_history

    path = plot_registry_history(reg, name, out)
    if path is None:
        return None
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![score history](data:image/png;base64,{data})\n\n`{path}`")
